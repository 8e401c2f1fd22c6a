//! The disk's limit for durable file creation, measured by a plain program: each file is
//! written to a temp name, fsynced, renamed into place, and its folder fsynced — what one
//! durable upload costs without any batching. Used by `benches/upload.sh` as the reference
//! the upload rate is compared with.
//!
//! `cargo bench --bench durable_create -- DIR [FILES=2000] [THREADS=1,2,32] [SIZE=20480]`
//!
//! With `DURABLE_CREATE_KEEP=1` the files are left in DIR (the caller removes them later):
//! ext4 skips inodes freed in the last seconds when it allocates new ones, so deleting
//! thousands of files just before the measured server creates its own would slow the server
//! down — a cost of the measurement, not of the server.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn create(dir: &Path, i: usize, data: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!("{i}.tmp"));
    let dst = dir.join(format!("{i}.torrent"));
    let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    fs::rename(&tmp, &dst)?;
    File::open(dir)?.sync_all()
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let Some(root) = args.first().map(PathBuf::from) else {
        eprintln!("usage: durable_create DIR [FILES] [THREADS,..] [SIZE]");
        return;
    };
    let files: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(2000);
    let threads: Vec<usize> = args
        .get(2)
        .map(|s| s.split(',').filter_map(|t| t.parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 2, 32]);
    let size: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(20480);
    let data: Vec<u8> = (0..size).map(|i| (i * 7 + 3) as u8).collect();
    for t in threads {
        let dir = root.join(format!("durable-{t}-{}", std::process::id()));
        let t0 = Instant::now();
        std::thread::scope(|s| {
            for w in 0..t {
                let (dir, data) = (&dir, &data);
                s.spawn(move || {
                    // 256 folders, like the store's shards, one writer each at a time.
                    for i in (w..files).step_by(t) {
                        let d = dir.join(format!("{:02x}", i % 256));
                        fs::create_dir_all(&d).expect("mkdir");
                        create(&d, i, data).expect("create");
                    }
                });
            }
        });
        let secs = t0.elapsed().as_secs_f64();
        println!(
            "durable create: {t:>3} threads, {files} x {size} B: {:.0} files/s",
            files as f64 / secs
        );
        if std::env::var_os("DURABLE_CREATE_KEEP").is_none() {
            let _ = fs::remove_dir_all(&dir);
        }
    }
}
