//! Ask every peer at once, then take the answers as they come: the one way
//! the gateway talks to several hosts (replication, updates and forgets,
//! sync rounds and confirmations, the control plane's health checks). Each
//! call runs on its own task, so a dead host costs one timeout in parallel,
//! not one each, and a caller that has heard enough stops reading while the
//! stragglers finish on their own.

use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use crate::env::{BoxFut, Env};

/// Answers of a [`fan_out`], tagged with the host that gave them, in the
/// order they arrive.
pub struct Answers<A> {
    arrived: UnboundedReceiver<(String, A)>,
}

impl<A> Answers<A> {
    /// The next answer; None once every call has finished.
    pub async fn next(&mut self) -> Option<(String, A)> {
        self.arrived.recv().await
    }
}

/// Starts `call(target, job)` for every `(target, job)` at once, each on a
/// task of `env`, in the order given.
pub fn fan_out<T, A: 'static>(
    env: &dyn Env,
    jobs: impl IntoIterator<Item = (String, T)>,
    mut call: impl FnMut(&str, T) -> BoxFut<'static, A>,
) -> Answers<A> {
    let (done_tx, arrived) = unbounded_channel::<(String, A)>();
    for (target, job) in jobs {
        let answer = call(&target, job);
        let done = done_tx.clone();
        env.spawn(Box::pin(async move {
            let _ = done.send((target, answer.await));
        }));
    }
    Answers { arrived }
}
