fn main() {
    std::process::exit(thetorrent::cli::main());
}
