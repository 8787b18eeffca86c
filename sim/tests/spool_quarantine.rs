//! A finished message with a quarantined recipient keeps its quarantine on
//! every copy that lets go (`models::spool::remove_finished`), judged on the
//! simulator's power-fail disk after a crash. Before that fix a replica
//! removed its copy like any finished message, so the quarantine lived on
//! the owner's disk alone and a lost disk took it: 65 of 200 madsim
//! disk-loss seeds lost quarantined mail.

use models::spool::{self, Durability, Entry, NewMessage, RcptState};
use sim::engine::power_fail_disk::PowerFailDisk;
use sim::prng::Prng;

const RAW: &[u8] = b"Subject: eicar\r\n\r\nX5O!P%@AP\r\n";

/// A replica's copy of a message whose recipients the owner settled.
fn replica_copy(disk: &PowerFailDisk, states: &[RcptState]) -> Entry {
    let rcpts: Vec<String> = (0..states.len())
        .map(|i| format!("r{i}@acme.example"))
        .collect();
    let mut entry = Entry::new(
        NewMessage {
            id: "0123456789abcdef".into(),
            message_id: "m1.s1@mailsim.test".into(),
            tenant: "acme".into(),
            mail_from: "a@sender1.example".into(),
            rcpts: rcpts.clone(),
            owner: "gw-aws-eu-west-1-0".into(),
            epoch: 1,
            replicas: vec!["gw-gcp-europe-west3-0".into()],
            smtputf8: false,
        },
        0,
    );
    spool::store_new(disk, &entry, RAW, Durability::Synced).expect("stored");
    for (rcpt, state) in rcpts.into_iter().zip(states) {
        entry.rcpts.insert(rcpt, state.clone());
    }
    entry
}

#[test]
fn a_replica_letting_go_of_quarantined_mail_keeps_it_in_its_quarantine_through_a_crash() {
    let disk = PowerFailDisk::new(None);
    let entry = replica_copy(&disk, &[RcptState::Quarantined, RcptState::Delivered]);
    assert!(entry.is_finished());
    spool::remove_finished(&disk, &entry).expect("removed");
    disk.crash(&mut Prng::new(1));
    assert_eq!(
        disk.files_in(spool::QUARANTINE_DIR),
        vec!["0123456789abcdef.msg".to_string()],
        "the quarantine must survive on this copy"
    );
    assert_eq!(
        spool::load_message(&disk, "0123456789abcdef").map_err(|e| e.kind()),
        Err(std::io::ErrorKind::NotFound),
        "the spool copy itself is gone"
    );
    use models::env::Disk;
    assert_eq!(
        disk.read(&format!("{}/0123456789abcdef.msg", spool::QUARANTINE_DIR))
            .expect("readable"),
        RAW
    );
}

#[test]
fn a_finished_message_without_a_quarantined_recipient_leaves_nothing_behind() {
    let disk = PowerFailDisk::new(None);
    let entry = replica_copy(&disk, &[RcptState::Delivered]);
    spool::remove_finished(&disk, &entry).expect("removed");
    disk.crash(&mut Prng::new(1));
    assert_eq!(disk.files_in(spool::QUARANTINE_DIR), Vec::<String>::new());
    assert_eq!(disk.files_in(spool::SPOOL_DIR), Vec::<String>::new());
}
