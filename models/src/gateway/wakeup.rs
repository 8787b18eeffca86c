//! The queue's doorbell: whoever gives the queue work (ingress with a new
//! message, a pass that ends and frees its destination's slot, a takeover
//! in `sync`) rings it, and the queue looks at once instead of at its next
//! tick. The tick stays only as a backstop for work that becomes due by the
//! clock (a backoff ending) or arrives by a path that did not ring.
//!
//! It is memory inside one host, so it needs no seam: `tokio::sync::Notify`
//! is a plain waker list with no runtime or clock behind it, and wakes the
//! same way under turmoil, madsim and real tokio. One waiter (the queue
//! loop) and `notify_one`, so a ring while the queue is busy is kept as a
//! permit and never lost.

use std::time::Duration;

use tokio::sync::Notify;

use crate::env::Env;

#[derive(Default)]
pub struct Doorbell {
    notify: Notify,
}

impl Doorbell {
    /// There may be work for the queue now.
    pub fn ring(&self) {
        self.notify.notify_one();
    }

    /// Returns when rung (or rung since the last wait), or after `limit`.
    pub async fn wait(&self, env: &dyn Env, limit: Duration) {
        let rung = self.notify.notified();
        let backstop = env.sleep(limit);
        tokio::select! {
            biased;
            () = rung => {}
            () = backstop => {}
        }
    }
}
