//! Faults of a host's own process rather than its network or disk, shared
//! by every host's `Env` of one run: its clock (`host_clock`), whether it is
//! paused (`pause`), and code-level fault injection (`buggify`).

use crate::engine::buggify::Buggify;
use crate::engine::host_clock::HostClocks;
use crate::engine::pause::Pauses;

#[derive(Default)]
pub struct HostFaults {
    pub clocks: HostClocks,
    pub pauses: Pauses,
    pub buggify: Buggify,
}
