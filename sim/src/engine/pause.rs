//! Process pauses (a GC or VM stall), engine-neutral: every task of a
//! gateway-side host runs behind a gate, and while a `pause` fault holds the
//! host no task of it is polled. Its timers still expire and bytes still
//! arrive in its sockets; nothing of it reacts until the pause ends, when
//! every task resumes with the beliefs it had (a lease it thinks it holds,
//! a confirmation it got before the pause) and finds the world moved on.
//!
//! Neither turmoil nor madsim offers this lever (madsim can only kill and
//! restart a node; turmoil can hold a link's messages, not a host), so the
//! gate sits at the seam: each engine wraps a host's main task and every
//! task the host spawns in [`gated`]. The same gate counts polls for the
//! livelock guard (`livelock`), and stops them all once it trips.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use models::env::BoxFut;

use crate::engine::seam::Shared;

/// Which hosts are paused, and the tasks waiting for each to resume.
#[derive(Default)]
pub struct Pauses {
    paused: RefCell<BTreeSet<String>>,
    waiting: RefCell<BTreeMap<String, Vec<Waker>>>,
}

impl Pauses {
    /// Pauses exactly these hosts; the ones no longer listed resume now.
    pub fn set(&self, hosts: BTreeSet<String>) {
        let resumed: Vec<String> = self.paused.borrow().difference(&hosts).cloned().collect();
        *self.paused.borrow_mut() = hosts;
        for host in resumed {
            let wakers = self.waiting.borrow_mut().remove(&host).unwrap_or_default();
            for waker in wakers {
                waker.wake();
            }
        }
    }

    pub fn is_paused(&self, host: &str) -> bool {
        self.paused.borrow().contains(host)
    }

    fn wait(&self, host: &str, waker: &Waker) {
        self.waiting
            .borrow_mut()
            .entry(host.to_string())
            .or_default()
            .push(waker.clone());
    }
}

/// `task` of `host`, frozen whenever the host is paused.
pub fn gated(shared: Rc<Shared>, host: String, task: BoxFut<'static, ()>) -> BoxFut<'static, ()> {
    Box::pin(Gate { shared, host, task })
}

struct Gate {
    shared: Rc<Shared>,
    host: String,
    task: BoxFut<'static, ()>,
}

impl Future for Gate {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let observer = &this.shared.observer;
        if !this
            .shared
            .livelock
            .allow_poll(&this.host, &|| observer.instant_us())
        {
            // The run is being stopped: nothing of any host runs again.
            return Poll::Pending;
        }
        let pauses = &this.shared.host_faults.pauses;
        if pauses.is_paused(&this.host) {
            pauses.wait(&this.host, cx.waker());
            return Poll::Pending;
        }
        this.task.as_mut().poll(cx)
    }
}
