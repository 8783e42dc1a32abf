//! Guards the sans-IO rule: proto-core depends on no async runtime or HTTP client, and its
//! source reads no clock, opens no socket and asks the OS for no randomness.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// Package name → names of its dependencies, from Cargo.lock (dev-dependencies included, which
/// only makes the check stricter).
fn lockfile_graph() -> BTreeMap<String, Vec<String>> {
    let lock = std::fs::read_to_string(workspace().join("Cargo.lock")).expect("Cargo.lock is committed");
    let mut graph = BTreeMap::new();
    for block in lock.split("[[package]]").skip(1) {
        let name = block
            .lines()
            .find_map(|l| l.strip_prefix("name = \""))
            .and_then(|l| l.strip_suffix('"'))
            .expect("package name")
            .to_owned();
        let mut deps = Vec::new();
        if let Some(start) = block.find("dependencies = [") {
            let list = &block[start..block[start..].find(']').map_or(block.len(), |e| start + e)];
            for entry in list.split('"').skip(1).step_by(2) {
                deps.push(entry.split(' ').next().unwrap_or(entry).to_owned());
            }
        }
        graph.entry(name).or_insert_with(Vec::new).extend(deps);
    }
    graph
}

#[test]
fn proto_core_depends_on_no_runtime_or_http_client() {
    let graph = lockfile_graph();
    let mut seen = BTreeSet::new();
    let mut stack = vec!["proto-core".to_owned()];
    while let Some(name) = stack.pop() {
        if seen.insert(name.clone()) {
            stack.extend(graph.get(&name).cloned().unwrap_or_default());
        }
    }
    assert!(seen.contains("rustls") && seen.contains("httparse"), "lockfile parse is broken: {seen:?}");
    let forbidden = [
        "tokio", "smol", "async-io", "async-net", "async-std", "mio", "hyper", "reqwest", "ureq", "isahc", "surf",
        "curl", "runtime-blocking", "runtime-smol", "runtime-tokio",
    ];
    let found: Vec<_> = forbidden.iter().filter(|f| seen.contains(**f)).collect();
    assert!(found.is_empty(), "proto-core's dependency closure contains {found:?}");
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read proto-core/src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn proto_core_source_has_no_io_clock_or_os_randomness() {
    let mut files = Vec::new();
    rust_files(&workspace().join("proto-core/src"), &mut files);
    assert!(files.len() > 5, "proto-core sources not found");
    let forbidden = [
        "std::net", "TcpStream", "UdpSocket", "SystemTime::now", "Instant::now", "UnixTime::now", "thread_rng",
        "OsRng", "SysRng", "getrandom", "std::thread", "std::fs", "tokio::", "smol::", "async_io::",
    ];
    let mut hits = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read source");
        for (i, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            for f in forbidden {
                if code.contains(f) {
                    hits.push(format!("{}:{}: {}", file.display(), i + 1, line.trim()));
                }
            }
        }
    }
    assert!(hits.is_empty(), "proto-core must stay sans-IO:\n{}", hits.join("\n"));
}
