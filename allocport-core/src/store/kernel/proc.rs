//! Who holds the kernel store's names, read from `/proc`: `/proc/net/unix` lists every bound
//! Unix socket of this network namespace with its inode, and `/proc/<pid>/fd` links each
//! descriptor of a process to its socket's inode. Other users' processes cannot be read
//! (unless this process is root): their claims show without a pid.

use std::io::Read;

use super::names::{Name, Prefix};

/// The most of `/proc/net/unix` read: a machine with a million sockets is not listed whole.
const MAX_UNIX_TABLE: u64 = 256 << 20;

/// The port names of `prefix` bound now, each with its socket's inode.
pub(crate) fn bound_names(prefix: &Prefix) -> std::io::Result<Vec<(Name, u64)>> {
    let mut table = Vec::new();
    std::fs::File::open("/proc/net/unix")?
        .take(MAX_UNIX_TABLE)
        .read_to_end(&mut table)?;
    Ok(parse_unix_table(&table, prefix))
}

/// The port names in the text of `/proc/net/unix`. A name may hold any byte (a port's
/// suffix can be a newline), so names are found by their prefix, not by lines: ` @P/`, after
/// the inode, which follows a space.
fn parse_unix_table(table: &[u8], prefix: &Prefix) -> Vec<(Name, u64)> {
    let marker = format!(" @{}/", prefix.as_str());
    let marker = marker.as_bytes();
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(i) = find(&table[at..], marker) {
        let start = at + i;
        at = start + 1;
        let Some((name, _)) = prefix.parse_port_name(&table[start + 2..]) else {
            continue;
        };
        let before = &table[..start];
        let digits = before
            .iter()
            .rev()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let inode = std::str::from_utf8(&before[before.len() - digits..])
            .ok()
            .and_then(|d| d.parse().ok());
        if let Some(inode) = inode {
            found.push((name, inode));
        }
    }
    found
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Which process has each socket inode open: the inodes sorted, each beside its pid (0 for
/// none found). Two vectors and a binary search, not a `HashMap`: the map's code would be
/// compiled into every user's build for this rare look alone.
#[derive(Debug)]
pub(crate) struct Owners {
    inodes: Vec<u64>,
    pids: Vec<u32>,
}

impl Owners {
    /// The process found with `inode` open.
    pub(crate) fn get(&self, inode: u64) -> Option<u32> {
        let at = self.inodes.binary_search(&inode).ok()?;
        Some(self.pids[at]).filter(|&pid| pid != 0)
    }

    /// How many of the inodes have an owner.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.pids.iter().filter(|&&pid| pid != 0).count()
    }
}

/// The pid of the process that has each of `inodes` open, where this process may look: one
/// pass over `/proc/*/fd`. Processes of other users (unless root) and of other pid
/// namespaces are not found.
pub(crate) fn owners(mut inodes: Vec<u64>) -> Owners {
    inodes.sort_unstable();
    inodes.dedup();
    let mut wanted = Owners {
        pids: vec![0; inodes.len()],
        inodes,
    };
    let mut left = wanted.inodes.len();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return wanted;
    };
    for entry in procs.flatten() {
        if left == 0 {
            break;
        }
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let Some(inode) = socket_inode(target.as_os_str().as_encoded_bytes()) else {
                continue;
            };
            let Ok(at) = wanted.inodes.binary_search(&inode) else {
                continue;
            };
            if wanted.pids[at] == 0 {
                wanted.pids[at] = pid;
                left -= 1;
            }
        }
    }
    wanted
}

/// The inode of a descriptor's link `socket:[123]`.
fn socket_inode(link: &[u8]) -> Option<u64> {
    let digits = link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::fake;

    #[test]
    fn names_are_found_whatever_bytes_their_suffix_holds() {
        let prefix = Prefix::from_env(&fake(&[])).unwrap();
        // Port 2570 is 0x0a0a: its suffix is two newlines, which must not split the entry.
        let table = b"Num       RefCount Protocol Flags    Type St Inode Path\n\
0000000000000000: 00000002 00000000 00000000 0001 01 12345 @allocport/tcp/2570@\n\n\
0000000000000000: 00000002 00000000 00010000 0001 01  6789 /run/systemd/notify\n\
0000000000000000: 00000002 00000000 00000000 0001 01 4242 @allocport/reserved/udp/80@@P\n\
0000000000000000: 00000002 00000000 00000000 0001 01 77 @allocport-x/tcp/80@@P\n\
0000000000000000: 00000002 00000000 00000000 0001 01 78 @allocport/tcp/81@@P\n";
        assert_eq!(
            parse_unix_table(table, &prefix),
            [(Name::Tcp(2570), 12345), (Name::ReservedUdp(80), 4242)]
        );
    }

    /// A name this process binds is listed with its socket's inode, and the inode leads back
    /// to this process.
    #[test]
    fn a_bound_name_is_found_with_its_inode_and_this_process() {
        use std::os::fd::AsRawFd;
        let store = crate::store::kernel::kernel_store().unwrap();
        let name = Name::ReservedUdp(65003);
        let fd = store.bind_new(name).unwrap().expect("a name nobody holds");
        // SAFETY: a zeroed stat is valid for fstat to fill; the descriptor is open.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) }, 0);
        let inode = st.st_ino;
        let found = bound_names(store.prefix()).unwrap();
        assert!(
            found.contains(&(name, inode)),
            "{name:?} {inode} not in {found:?}"
        );
        let owners = owners(vec![u64::MAX, inode, inode]);
        assert_eq!(owners.get(inode), Some(std::process::id()));
        assert_eq!(owners.get(u64::MAX), None);
        assert_eq!(owners.get(inode + 1), None);
        assert_eq!(
            owners.len(),
            1,
            "an inode nobody has is not found: {owners:?}"
        );
        drop(fd);
        let found = bound_names(store.prefix()).unwrap();
        assert!(
            !found.iter().any(|&(n, _)| n == name),
            "released, yet listed"
        );
    }

    #[test]
    fn a_socket_link_gives_its_inode() {
        assert_eq!(socket_inode(b"socket:[4026532]"), Some(4026532));
        assert_eq!(socket_inode(b"pipe:[1]"), None);
        assert_eq!(socket_inode(b"socket:[x]"), None);
    }
}
