//! The clocks and pauses the active faults call for, gathered at a fault
//! boundary and applied as a whole (`fault_state` says when): a host's
//! clock is skewed by the latest of its active clock faults, and a host is
//! paused while any pause of it is active. Hosts no longer named read true
//! time again (the step back) and resume.

use std::collections::{BTreeMap, BTreeSet};

use crate::engine::host_clock::Skew;
use crate::engine::host_faults::HostFaults;
use crate::faults::{Fault, FaultKind, clock};

#[derive(Default)]
pub struct ProcessFaults {
    skews: BTreeMap<String, Skew>,
    paused: BTreeSet<String>,
}

impl ProcessFaults {
    pub fn add(&mut self, fault: &Fault) {
        if let Some((host, skew)) = clock::skew(fault) {
            self.skews.insert(host, skew);
        }
        if let FaultKind::Pause { host } = &fault.kind {
            self.paused.insert(host.clone());
        }
    }

    pub fn apply(self, host_faults: &HostFaults) {
        host_faults.clocks.set(self.skews);
        host_faults.pauses.set(self.paused);
    }
}
