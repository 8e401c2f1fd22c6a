//! The hidden `generate` command: writes the manual pages (clap_mangen) and the shell
//! completions (clap_complete) from the very `Cli` definition the program parses with. Their
//! committed copies under `packaging/` are what the Debian package installs (Cargo.toml,
//! `[package.metadata.deb]`), so nothing is generated at build time; tests/cli.rs writes them
//! afresh and fails when the committed copies differ.
//!
//! Owns: the files' names, and what thetorrent(1) adds to what clap says: EXIT STATUS (the
//! codes of `cli`), FILES (the packaged service's), SEE ALSO (the command pages).
//! Must never: put anything in the files that the definitions and this module do not say (no
//! date, host or environment: one source gives one set of files), or delete a file in the
//! output folder that is not a man page of thetorrent.

use super::{Cli, EXIT_OK, EXIT_REJECTED, EXIT_SOURCE, EXIT_STORAGE, EXIT_USAGE};
use clap::CommandFactory;
use clap_complete::Shell;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Options of `thetorrent generate`.
#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    #[command(subcommand)]
    pub what: What,
}

#[derive(Debug, clap::Subcommand)]
pub enum What {
    /// thetorrent.1 and thetorrent-COMMAND.1 per command into DIR (created if missing); pages
    /// of commands that no longer exist are removed from DIR.
    Man { dir: PathBuf },
    /// thetorrent.bash, _thetorrent (zsh) and thetorrent.fish into DIR (created if missing).
    Completions { dir: PathBuf },
}

/// A file or folder `generate` could not write.
#[derive(Debug)]
pub enum Error {
    CreateDir(PathBuf, std::io::Error),
    ReadDir(PathBuf, std::io::Error),
    Write(PathBuf, std::io::Error),
    RemoveStale(PathBuf, std::io::Error),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::CreateDir(p, e) => write!(f, "cannot create folder {}: {e}", p.display()),
            Error::ReadDir(p, e) => write!(f, "cannot list folder {}: {e}", p.display()),
            Error::Write(p, e) => write!(f, "cannot write {}: {e}", p.display()),
            Error::RemoveStale(p, e) => {
                write!(f, "cannot remove the stale page {}: {e}", p.display())
            }
        }
    }
}

/// The shells completions are written for (the package installs one file per shell).
const SHELLS: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

/// thetorrent(1)'s EXIT STATUS: every code `cli` exits with, and when. A new code belongs here
/// too: the page is where the authors of scripts look.
const EXIT_STATUSES: [(i32, &str); 5] = [
    (
        EXIT_OK,
        "Everything asked was done (each torrent stored or already stored; \
         verify found nothing wrong).",
    ),
    (
        EXIT_REJECTED,
        "Some inputs were rejected (add, import, mirror, migrate), or verify found problems; \
         the rest was done. Also: nothing to do (unblock of a hash that is not blocked).",
    ),
    (
        EXIT_USAGE,
        "Bad arguments: an unknown option or command, a malformed hash or size, a serve \
         option that cannot be used (--access-log in a missing folder, a --public-url that is \
         not an absolute http(s) URL), or --store s3://... for a command that works on a local \
         data directory only.",
    ),
    (
        EXIT_STORAGE,
        "A store could not be used (the data directory or the S3 bucket: I/O error, \
         permissions, disk full), or serve could not start.",
    ),
    (
        EXIT_SOURCE,
        "mirror: the source could not be used (unreachable, a TLS failure, too many network \
         failures in a row, no day index or takedowns feed); nothing is wrong here, run it \
         again later.",
    ),
];

/// thetorrent(1)'s FILES: where the packaged service keeps its settings and data.
const FILES: &str = r#".SH FILES
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
"#;

/// Where clap_mangen's page ends with the program's version; EXIT STATUS and FILES go before
/// it and SEE ALSO after it (the order of man-pages(7)).
const VERSION_SECTION: &str = ".SH VERSION\n";

pub fn run(args: &GenerateArgs) -> Result<(), Error> {
    match &args.what {
        What::Man { dir } => man(dir),
        What::Completions { dir } => completions(dir),
    }
}

/// The command as the pages describe it: built (subcommands know their full names) and
/// without clap's `help` subcommand, which has no page.
fn command() -> clap::Command {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

fn create_dir(dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::CreateDir(dir.to_path_buf(), e))
}

fn write(path: PathBuf, bytes: &[u8]) -> Result<(), Error> {
    std::fs::write(&path, bytes).map_err(|e| Error::Write(path, e))
}

fn man(dir: &Path) -> Result<(), Error> {
    create_dir(dir)?;
    let root = command();
    // The program and every command under it; hidden ones (this one) have no page, as in
    // clap_mangen::generate_to.
    let mut commands = vec![root.clone()];
    let mut next = 0;
    while let Some(cmd) = commands.get(next) {
        let visible: Vec<_> = cmd
            .get_subcommands()
            .filter(|s| !s.is_hide_set())
            .cloned()
            .collect();
        commands.extend(visible);
        next += 1;
    }
    let mut written = BTreeSet::new();
    for (i, cmd) in commands.into_iter().enumerate() {
        let man = clap_mangen::Man::new(cmd);
        let path = dir.join(man.get_filename());
        let mut page = Vec::new();
        man.render(&mut page)
            .map_err(|e| Error::Write(path.clone(), e))?;
        if i == 0 {
            page = main_page(&root, page);
        }
        write(path, &page)?;
        written.insert(man.get_filename());
    }
    remove_stale_pages(dir, &root, &written)
}

/// thetorrent(1): clap_mangen's page plus EXIT STATUS, FILES and SEE ALSO.
fn main_page(root: &clap::Command, page: Vec<u8>) -> Vec<u8> {
    let page = String::from_utf8(page).expect("clap_mangen writes UTF-8 from UTF-8 text");
    let (head, version) = match page.find(VERSION_SECTION) {
        Some(at) => page.split_at(at),
        None => (page.as_str(), ""),
    };
    let mut out = String::from(head);
    out.push_str(".SH \"EXIT STATUS\"\n");
    for (code, meaning) in EXIT_STATUSES {
        out.push_str(&format!(".TP\n\\fB{code}\\fR\n{}\n", roff_text(meaning)));
    }
    out.push_str(FILES);
    out.push_str(version);
    let see_also: Vec<String> = root
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| format!("\\fB{}\\-{}\\fR(1)", root.get_name(), s.get_name()))
        .collect();
    out.push_str(&format!(
        ".SH \"SEE ALSO\"\n{}, \\fBsystemd.socket\\fR(5)\n",
        see_also.join(", ")
    ));
    out.into_bytes()
}

/// Plain text as a line of roff: backslashes and hyphens escaped (a bare `-` may be set as a
/// hyphen, not the minus of an option), and a leading `.` or `'` kept from being a request.
fn roff_text(s: &str) -> String {
    let escaped = s.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with(['.', '\'']) {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

/// Removes the pages in `dir` named like thetorrent's (`thetorrent.1`, `thetorrent-*.1`) that
/// this run did not write: a command that is gone must not keep its page in the package.
fn remove_stale_pages(
    dir: &Path,
    root: &clap::Command,
    written: &BTreeSet<String>,
) -> Result<(), Error> {
    let prefix = format!("{}-", root.get_name());
    let entries = std::fs::read_dir(dir).map_err(|e| Error::ReadDir(dir.to_path_buf(), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::ReadDir(dir.to_path_buf(), e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix) && name.ends_with(".1") && !written.contains(&name) {
            std::fs::remove_file(entry.path()).map_err(|e| Error::RemoveStale(entry.path(), e))?;
        }
    }
    Ok(())
}

fn completions(dir: &Path) -> Result<(), Error> {
    create_dir(dir)?;
    // With clap's `help` subcommand, unlike the pages: `thetorrent help serve` works.
    let mut cmd = visible(&Cli::command());
    let name = cmd.get_name().to_string();
    for shell in SHELLS {
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut cmd, &name, &mut script);
        write(
            dir.join(clap_complete::Generator::file_name(&shell, &name)),
            &script,
        )?;
    }
    Ok(())
}

/// `cmd` without what it hides (this command): clap_complete offers every
/// command and option it is given, hidden or not, and a `clap::Command` cannot drop one, so
/// the visible ones are put together again with what completions read of a command (name,
/// descriptions, version flag, whether a command is required). Argument groups stay out: the
/// derive makes one per flattened struct and none of them restricts anything.
fn visible(cmd: &clap::Command) -> clap::Command {
    let mut out = clap::Command::new(cmd.get_name().to_string())
        .args(cmd.get_arguments().filter(|a| !a.is_hide_set()).cloned())
        .subcommands(
            cmd.get_subcommands()
                .filter(|s| !s.is_hide_set())
                .map(visible),
        )
        .propagate_version(cmd.is_propagate_version_set())
        .subcommand_required(cmd.is_subcommand_required_set())
        .arg_required_else_help(cmd.is_arg_required_else_help_set());
    if let Some(about) = cmd.get_about() {
        out = out.about(about.clone());
    }
    if let Some(about) = cmd.get_long_about() {
        out = out.long_about(about.clone());
    }
    if let Some(version) = cmd.get_version() {
        out = out.version(version.to_string());
    }
    out
}
