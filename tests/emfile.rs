//! Accepting with no descriptor left (EMFILE): the server backs off instead of spinning, and
//! recovers when descriptors free up. Its own test binary, because it lowers the descriptor
//! limit of the servers it starts.

mod common;

use common::*;
use std::time::Duration;

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after "pid (comm) ".
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[test]
fn accept_backs_off_on_emfile_instead_of_spinning() {
    let s = try_start_with(temp_dir(), &["--file-cache", "0"], |cmd| {
        set_rlimit(cmd, libc::RLIMIT_NOFILE, 48)
    })
    .unwrap_or_else(|(status, log)| panic!("server did not start ({status:?}):\n{log}"));
    assert!(s.alive());
    let mut clients = Vec::new();
    for _ in 0..80 {
        let mut c = s.connect();
        c.send(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
        clients.push(c);
    }
    std::thread::sleep(Duration::from_millis(500));
    let before = cpu_ticks(s.child.id());
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks(s.child.id()) - before;
    // A spinning accept loop would burn a whole core: ~200 ticks in 2 s.
    assert!(used < 40, "{used} ticks in 2 s while out of descriptors");
    assert!(s.log().contains("backing off"), "{}", s.log());
    // Descriptors free up: the waiting clients are served, then new ones.
    let mut served = 0;
    for c in clients.iter_mut().take(10) {
        if matches!(c.try_response(false), Ok(r) if r.status == 200) {
            served += 1;
        }
    }
    assert!(served > 0);
    drop(clients);
    std::thread::sleep(Duration::from_millis(300));
    let mut ok = false;
    for _ in 0..50 {
        if s.alive() {
            ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(ok, "server did not recover:\n{}", s.log());
}
