//! Build script. With the `dist` feature (which `cargo deb` turns on) it writes the manual pages
//! and shell completions of the command line into `target/<profile>/dist/`, where the Debian
//! package's assets (Cargo.toml, `[package.metadata.deb]`) take them from:
//! `man/thetorrent.1` and one `man/thetorrent-<command>.1` per subcommand (clap_mangen), and
//! `completions/thetorrent.bash`, `_thetorrent`, `thetorrent.fish` (clap_complete). Without the
//! feature it does nothing, so everyday builds and tests pay nothing for it.
//!
//! The files come from the very clap definitions the binary parses with: the library's source
//! is compiled into this script (`#[path]`), because a package cannot depend on itself and the
//! definitions name defaults from all over the crate. Its dependencies are therefore repeated as
//! optional build-dependencies that `dist` turns on.
//!
//! Must never: write into the source tree, or put anything in the files that the definitions do
//! not say (no date, no host, no environment), so that one source gives one set of files.

#[cfg(feature = "dist")]
#[allow(dead_code, unused)]
#[path = "src/lib.rs"]
mod thetorrent;
// The library names its items `crate::…`; from this script's root they resolve through here.
#[cfg(feature = "dist")]
#[allow(unused_imports)]
use thetorrent::*;

fn main() {
    // Any change to the library's source recompiles this script (rustc lists every `#[path]`
    // file it read), and a recompiled script runs again; nothing else changes the output.
    println!("cargo::rerun-if-changed=build.rs");
    #[cfg(feature = "dist")]
    dist::write();
}

#[cfg(feature = "dist")]
mod dist {
    use clap::CommandFactory;
    use clap_complete::Shell;
    use std::path::{Path, PathBuf};

    /// Name of the folder beside the binary (`target/<profile>/dist`) the files go to.
    const DIST_DIR: &str = "dist";

    /// The man page's closing sections: where the packaged service keeps its settings and data.
    const FILES_AND_SEE_ALSO: &str = r#".SH FILES
.TP
\fI/etc/thetorrent/thetorrent.env\fR
Environment of the packaged service (\fBthetorrent.service\fR): options added to its
\fBthetorrent serve\fR command line (\fBTHETORRENT_OPTIONS\fR) and S3 credentials
(\fBAWS_ACCESS_KEY_ID\fR, \fBAWS_SECRET_ACCESS_KEY\fR, \fBAWS_REGION\fR).
.TP
\fI/var/lib/thetorrent\fR
The packaged service's data directory (\fB\-\-data\fR); kept when the package is removed or purged.
.TP
\fI/usr/lib/systemd/system/thetorrent.socket\fR, \fIthetorrent.service\fR
The listening socket (\fBListenStream=\fR, 127.0.0.1:8080) and the service it starts.
.SH "SEE ALSO"
"#;

    pub fn write() {
        let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
        // OUT_DIR is <target>/<profile>/build/thetorrent-<hash>/out.
        let profile_dir = out_dir.ancestors().nth(3).unwrap_or_else(|| {
            panic!(
                "OUT_DIR {} is not <target>/<profile>/build/<pkg>/out",
                out_dir.display()
            )
        });
        let dist = profile_dir.join(DIST_DIR);
        let man = dist.join("man");
        let completions = dist.join("completions");
        // Start empty: a subcommand that is gone must not leave its page behind.
        if dist.exists() {
            std::fs::remove_dir_all(&dist).unwrap_or_else(|e| fail(&dist, e));
        }
        for dir in [&man, &completions] {
            std::fs::create_dir_all(dir).unwrap_or_else(|e| fail(dir, e));
        }

        let cmd = crate::cli::Cli::command();
        clap_mangen::generate_to(cmd.clone(), &man).unwrap_or_else(|e| fail(&man, e));
        write_main_page(cmd.clone(), &man.join("thetorrent.1"));
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            clap_complete::generate_to(shell, &mut cmd.clone(), "thetorrent", &completions)
                .unwrap_or_else(|e| fail(&completions, e));
        }
    }

    /// thetorrent(1): clap_mangen's page plus FILES and SEE ALSO (the subcommands' pages).
    fn write_main_page(cmd: clap::Command, path: &Path) {
        // As clap_mangen::generate_to has it: no `help` subcommand (it has no page).
        let mut cmd = cmd.disable_help_subcommand(true);
        cmd.build();
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd.clone())
            .render(&mut page)
            .unwrap_or_else(|e| fail(path, e));
        page.extend_from_slice(FILES_AND_SEE_ALSO.as_bytes());
        let see_also: Vec<String> = cmd
            .get_subcommands()
            .filter(|s| !s.is_hide_set())
            .map(|s| format!("\\fBthetorrent\\-{}\\fR(1)", s.get_name()))
            .collect();
        page.extend_from_slice(see_also.join(", ").as_bytes());
        page.extend_from_slice(b", \\fBsystemd.socket\\fR(5)\n");
        std::fs::write(path, page).unwrap_or_else(|e| fail(path, e));
    }

    fn fail(path: &Path, e: std::io::Error) -> ! {
        panic!("cannot write {}: {e}", path.display())
    }
}
