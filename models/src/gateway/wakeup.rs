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

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};

    use super::*;
    use crate::env::{BoxConn, BoxFut, Disk, Listener};

    /// Enough of an engine for the doorbell: a backstop that either never
    /// ends or has already ended.
    struct TestEnv {
        backstop_ended: bool,
    }

    impl Env for TestEnv {
        fn host_name(&self) -> &str {
            "gw-test"
        }
        fn now(&self) -> Duration {
            unimplemented!("the doorbell never reads the clock")
        }
        fn sleep(&self, _duration: Duration) -> BoxFut<'static, ()> {
            if self.backstop_ended {
                Box::pin(std::future::ready(()))
            } else {
                Box::pin(std::future::pending())
            }
        }
        fn connect(&self, _host: &str, _port: u16) -> BoxFut<'static, std::io::Result<BoxConn>> {
            unimplemented!("the doorbell never connects")
        }
        fn listen(&self, _port: u16) -> BoxFut<'static, std::io::Result<Box<dyn Listener>>> {
            unimplemented!("the doorbell never listens")
        }
        fn disk(&self) -> &dyn Disk {
            unimplemented!("the doorbell never touches the disk")
        }
        fn random_u64(&self) -> u64 {
            unimplemented!("the doorbell draws no randomness")
        }
        fn spawn(&self, _task: BoxFut<'static, ()>) {
            unimplemented!("the doorbell spawns nothing")
        }
        fn observe(&self, _event: traces::EventKind) {
            unimplemented!("the doorbell reports nothing")
        }
    }

    fn poll_once(fut: &mut std::pin::Pin<&mut impl Future<Output = ()>>) -> Poll<()> {
        fut.as_mut().poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn a_ring_wakes_the_waiting_queue_before_its_backstop() {
        let (bell, env) = (
            Doorbell::default(),
            TestEnv {
                backstop_ended: false,
            },
        );
        let wait = bell.wait(&env, Duration::from_secs(3600));
        let mut wait = std::pin::pin!(wait);
        assert_eq!(poll_once(&mut wait), Poll::Pending, "nothing rang yet");
        bell.ring();
        assert_eq!(poll_once(&mut wait), Poll::Ready(()));
    }

    #[test]
    fn a_ring_while_the_queue_is_busy_is_kept_for_its_next_wait() {
        let (bell, env) = (
            Doorbell::default(),
            TestEnv {
                backstop_ended: false,
            },
        );
        bell.ring();
        let wait = bell.wait(&env, Duration::from_secs(3600));
        assert_eq!(poll_once(&mut std::pin::pin!(wait)), Poll::Ready(()));
        // The permit was used up: the next wait sleeps again.
        let again = bell.wait(&env, Duration::from_secs(3600));
        assert_eq!(poll_once(&mut std::pin::pin!(again)), Poll::Pending);
    }

    #[test]
    fn the_backstop_ends_a_wait_nobody_rang_for() {
        let (bell, env) = (
            Doorbell::default(),
            TestEnv {
                backstop_ended: true,
            },
        );
        let wait = bell.wait(&env, Duration::from_millis(200));
        assert_eq!(poll_once(&mut std::pin::pin!(wait)), Poll::Ready(()));
    }
}
