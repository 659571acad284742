//! The task's listening ports, from `/proc/net/{tcp,tcp6,udp,udp6}` of the sidecar's network
//! namespace (the task's, under `awsvpc`): TCP sockets in LISTEN, and UDP sockets bound with no
//! peer outside the ephemeral port range (a UDP client's socket is bound to an ephemeral port
//! too). Each socket is placed by its inode: the process holding it (`/proc/PID/fd` links
//! `socket:[INODE]`) names its container; the defender's own sockets (the sidecar's loopback
//! endpoint) are not the workload's. A port is reported once per (protocol, port, container).
//!
//! Bounded work: the file descriptors are walked only while a listening socket is unplaced, at
//! most [`MAX_LINKS_READ`] links a scan, and a socket no process of the task holds (in another
//! PID namespace, or its holder gone) is given up after [`MAX_TRIES`] scans.

use crate::judging::Judging;
use palisade_policy::{ListeningPort, Protocol};
use palisade_protocol::ContainerIdentity;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Links read per scan at most, all processes together.
const MAX_LINKS_READ: usize = 65_536;
/// File descriptors looked at per process at most.
const MAX_FDS_PER_PROCESS: usize = 4096;
/// Scans that look for a socket's holder before it is given up.
const MAX_TRIES: u8 = 3;
/// Ports reported at most (each once); past it, new ones are not reported.
const MAX_REPORTED: usize = 4096;

/// Who holds a listening socket.
#[derive(Clone, Debug, PartialEq)]
enum Holder {
    Process {
        pid: u32,
        container: Option<String>,
    },
    /// The defender itself, or given up on.
    Ignored,
    /// Not found yet, after this many scans.
    Unknown(u8),
}

/// A port that began listening, and the process that holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct Opened {
    pub port: ListeningPort,
    pub pid: u32,
}

pub struct Ports {
    proc_root: PathBuf,
    ephemeral: (u16, u16),
    holders: HashMap<u64, Holder>,
    reported: HashSet<(Protocol, u16, Option<String>)>,
}

/// One listening socket of `/proc/net/*`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Socket {
    protocol: Protocol,
    port: u16,
    inode: u64,
}

impl Ports {
    pub fn new(proc_root: &Path) -> Self {
        let range = std::fs::read_to_string(proc_root.join("sys/net/ipv4/ip_local_port_range"))
            .unwrap_or_default();
        let mut bounds = range.split_whitespace().filter_map(|n| n.parse().ok());
        let ephemeral = match (bounds.next(), bounds.next()) {
            (Some(low), Some(high)) => (low, high),
            _ => (32768, 60999),
        };
        Ports {
            proc_root: proc_root.to_owned(),
            ephemeral,
            holders: HashMap::new(),
            reported: HashSet::new(),
        }
    }

    /// The ports that began listening since the last scan.
    pub fn scan(&mut self, containers: &[ContainerIdentity], judging: &mut Judging) -> Vec<Opened> {
        let mut sockets = Vec::new();
        for protocol in [Protocol::Tcp, Protocol::Tcp6, Protocol::Udp, Protocol::Udp6] {
            let path = self.proc_root.join("net").join(protocol.as_str());
            let text = std::fs::read_to_string(path).unwrap_or_default();
            sockets.extend(listening(&text, protocol, self.ephemeral));
        }
        let live: HashSet<u64> = sockets.iter().map(|socket| socket.inode).collect();
        self.holders.retain(|inode, _| live.contains(inode));
        let unplaced: HashSet<u64> = sockets
            .iter()
            .map(|socket| socket.inode)
            .filter(|inode| matches!(self.holders.get(inode), None | Some(Holder::Unknown(_))))
            .collect();
        if !unplaced.is_empty() {
            self.place(&unplaced, containers, judging);
        }
        let mut opened = Vec::new();
        for socket in sockets {
            let Some(Holder::Process { pid, container }) = self.holders.get(&socket.inode) else {
                continue;
            };
            let key = (socket.protocol, socket.port, container.clone());
            if self.reported.len() >= MAX_REPORTED || !self.reported.insert(key) {
                continue;
            }
            opened.push(Opened {
                port: ListeningPort {
                    protocol: socket.protocol,
                    port: socket.port,
                    container: container.clone(),
                },
                pid: *pid,
            });
        }
        opened
    }

    /// Finds who holds the `unplaced` sockets, walking the processes' descriptors.
    fn place(
        &mut self,
        unplaced: &HashSet<u64>,
        containers: &[ContainerIdentity],
        judging: &mut Judging,
    ) {
        let mut found: HashMap<u64, u32> = HashMap::new();
        let mut budget = MAX_LINKS_READ;
        let entries = std::fs::read_dir(&self.proc_root).into_iter().flatten();
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
                continue;
            };
            for fd in fds.flatten().take(MAX_FDS_PER_PROCESS) {
                if budget == 0 {
                    break;
                }
                budget -= 1;
                let inode = std::fs::read_link(fd.path()).ok().and_then(|link| {
                    let link = link.to_str()?.strip_prefix("socket:[")?.strip_suffix(']')?;
                    link.parse::<u64>().ok()
                });
                if let Some(inode) = inode.filter(|inode| unplaced.contains(inode)) {
                    found.entry(inode).or_insert(pid);
                }
            }
            if budget == 0 || found.len() == unplaced.len() {
                break;
            }
        }
        for &inode in unplaced {
            let holder = match found.get(&inode) {
                Some(&pid) if judging.is_defender_pid(pid) => Holder::Ignored,
                Some(&pid) => Holder::Process {
                    pid,
                    container: crate::procs::container_of(
                        &self.proc_root.join(pid.to_string()),
                        containers,
                    ),
                },
                None => match self.holders.get(&inode) {
                    Some(Holder::Unknown(tries)) if tries + 1 >= MAX_TRIES => Holder::Ignored,
                    Some(Holder::Unknown(tries)) => Holder::Unknown(tries + 1),
                    _ => Holder::Unknown(1),
                },
            };
            self.holders.insert(inode, holder);
        }
    }
}

/// The listening sockets of one `/proc/net/*` file.
fn listening(text: &str, protocol: Protocol, ephemeral: (u16, u16)) -> Vec<Socket> {
    let udp = matches!(protocol, Protocol::Udp | Protocol::Udp6);
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (local, remote, state, inode) = (
                fields.get(1)?,
                fields.get(2)?,
                fields.get(3)?,
                fields.get(9)?,
            );
            let port = u16::from_str_radix(local.rsplit(':').next()?, 16).ok()?;
            let inode: u64 = inode.parse().ok()?;
            let unconnected = remote.chars().all(|c| c == '0' || c == ':');
            let listens = if udp {
                *state == "07" && unconnected && !(ephemeral.0..=ephemeral.1).contains(&port)
            } else {
                *state == "0A"
            };
            (listens && port != 0 && inode != 0).then_some(Socket {
                protocol,
                port,
                inode,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1D1B 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1564917 1 0 100 0 0 10 0
   1: 0100007F:8D6D 0100007F:1D1B 01 00000000:00000000 00:00000000 00000000     0        0 1564918 1 0 100 0 0 10 0
";
    const UDP: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  1: 00000000:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 2001 2 0 0
  2: 00000000:A000 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 2002 2 0 0
  3: 0100007F:0036 0100007F:0035 01 00000000:00000000 00:00000000 00000000     0        0 2003 2 0 0
";

    #[test]
    fn listeners_are_told_from_connections_and_udp_clients() {
        let tcp = listening(TCP, Protocol::Tcp, (32768, 60999));
        assert_eq!(
            tcp,
            [Socket {
                protocol: Protocol::Tcp,
                port: 7451,
                inode: 1564917
            }]
        );
        // Port 53 bound with no peer listens; an ephemeral port (0xA000 = 40960) is a client's,
        // and a connected socket is no listener.
        let udp: Vec<u16> = listening(UDP, Protocol::Udp, (32768, 60999))
            .iter()
            .map(|socket| socket.port)
            .collect();
        assert_eq!(udp, [53]);
    }

    #[test]
    fn a_port_is_placed_at_its_process_reported_once_and_the_defenders_own_is_not() {
        use std::io::BufRead;
        let mut child = std::process::Command::new("python3")
            .args([
                "-c",
                "import socket, time\n\
                 s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n\
                 print(s.getsockname()[1], flush=True); time.sleep(30)",
            ])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line.trim().parse().unwrap();
        // The judge's own process (this test, as the sidecar) holds one too.
        let own = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let own_port = own.local_addr().unwrap().port();
        let volume = tempfile::tempdir().unwrap();
        let mut judging = Judging::new(Path::new("/proc"), volume.path());
        let mut ports = Ports::new(Path::new("/proc"));
        let opened = ports.scan(&[], &mut judging);
        let theirs: Vec<&Opened> = opened.iter().filter(|o| o.port.port == port).collect();
        assert_eq!(theirs.len(), 1, "{opened:?}");
        assert_eq!(theirs[0].pid, child.id());
        assert_eq!(theirs[0].port.protocol, Protocol::Tcp);
        assert!(
            !opened.iter().any(|o| o.port.port == own_port),
            "{opened:?}"
        );
        let again = ports.scan(&[], &mut judging);
        let _ = child.kill();
        let _ = child.wait();
        assert!(!again.iter().any(|o| o.port.port == port), "reported once");
        drop(own);
    }
}
