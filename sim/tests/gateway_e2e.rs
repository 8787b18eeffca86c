//! probe
use sim::deploy;
use sim::faults::{Fault, FaultKind};
use sim::scenario::{Family, Scenario};
use sim::workload::mime::MessageKind;

fn one_message() -> Scenario {
    let mut s = Scenario::generate_family(7, Family::Calm);
    let tenant = s.tenants[0].clone();
    let mut m = s.workload.messages[0].clone();
    m.at_ms = 1_000;
    m.rcpts = vec![format!("{}@{}", tenant.users[0], tenant.domain)];
    m.tenant = tenant.name.clone();
    m.kind = MessageKind::Plain;
    s.workload.messages = vec![m];
    s.phases.heal_at_ms = 5_000;
    s.phases.drain_bound_ms = 30_000;
    s
}

#[test]
fn probe() {
    let mut s = one_message();
    let at: u64 = std::env::var("AT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let config = deploy::gateway_config(&s);
    let mx = deploy::mx_directory(&s, &config);
    let first = mx.domains[&s.tenants[0].domain][0].clone();
    println!("mx {:?}", mx.domains[&s.tenants[0].domain]);
    if at > 0 {
        s.faults.faults = vec![Fault {
            at_ms: at,
            duration_ms: 3_000,
            kind: FaultKind::HostCrash { host: first },
        }];
    }
    if let Ok(b) = std::env::var("BUGS") {
        s.bugs = b.split(',').map(String::from).collect();
    }
    s.validate().unwrap();
    let out = sim::run::run(&s, 1);
    for e in out.log.events() {
        println!("{:>10} {:<28} {:?}", e.t_us, e.host, e.kind);
    }
    println!("{}", out.summary());
}
