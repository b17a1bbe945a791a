//! Ctrl-C (SIGINT to the devnet process alone, as `kill -INT` sends it): the devnet stops
//! its signer processes and the node, still checks and prints the summary, and says in one
//! `error:` line that it was interrupted. No signer process is left behind.

mod devnet_support;

use std::io::{BufRead, BufReader};
use std::process::Command;
use std::time::{Duration, Instant};

use devnet_support::{devnet_command, processes_using};

#[test]
fn ctrl_c_stops_every_signer_and_still_prints_the_summary() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let data_arg = data.display().to_string();
    let mut child = devnet_command(&[
        "--tenures",
        "100000",
        "--seed",
        "51",
        "--data-dir",
        &data_arg,
    ])
    .spawn()
    .expect("the binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let err_reader =
        std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    let out_reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });

    // Wait until the network signs blocks (a progress line past the first tenure).
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines_rx.recv_timeout(left).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("no progress within 60s:\n{}", seen.join("\n"))
        });
        let progressing = line.contains("tenure 3/");
        seen.push(line);
        if progressing {
            break;
        }
    }
    let devnet = child.id();
    let signers: Vec<u32> = processes_using(&data)
        .into_iter()
        .filter(|pid| *pid != devnet)
        .collect();
    if signers.len() != 5 {
        let _ = child.kill();
        panic!("five signer processes run: {signers:?}");
    }

    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    let code = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status.code();
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("the devnet did not stop within 60s of SIGINT");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    out_reader.join().expect("stdout read");
    seen.extend(lines_rx.try_iter());
    let stdout = seen.join("\n");
    let stderr = err_reader.join().expect("stderr read");
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("devnet summary: 5 signers"), "{stdout}");
    assert!(stdout.contains("check       passed"), "{stdout}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].starts_with("error: interrupted after "),
        "{stderr}"
    );
    for pid in &signers {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists()
                || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .map(|s| s.contains(") Z "))
                    .unwrap_or(true),
            "signer process {pid} outlived the devnet"
        );
    }
    assert!(processes_using(&data).is_empty(), "signers left running");
}
