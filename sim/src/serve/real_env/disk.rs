//! A host's disk in real mode: ordinary files under `DATA/<host>/`, with the
//! fsync semantics the `Disk` trait promises (`sync` is `File::sync_all`,
//! `sync_dir` fsyncs the directory itself, which is what makes a creation,
//! rename or removal durable on Linux).
//!
//! Gateway code names paths like `spool/<id>.json`; nothing it says may
//! reach outside the host's directory, so `..`, absolute roots and symlinks
//! that lead out are refused rather than followed.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};

use models::env::Disk;

pub struct RealDisk {
    /// Canonical, so a prefix check against it means what it says.
    root: PathBuf,
}

impl RealDisk {
    /// A disk rooted at `root`, created if missing.
    pub fn new(root: &Path) -> io::Result<RealDisk> {
        fs::create_dir_all(root)?;
        Ok(RealDisk {
            root: root.canonicalize()?,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The real path of a disk path, or an error if it would leave the root.
    pub fn resolve(&self, path: &str) -> io::Result<PathBuf> {
        let escapes = || {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("path {path:?} leaves the host's data directory"),
            )
        };
        // Disk paths are relative to the host's root; a leading '/' means
        // the same (as under the simulator), never the machine's root.
        let mut real = self.root.clone();
        for component in Path::new(path.trim_start_matches('/')).components() {
            match component {
                Component::Normal(part) => real.push(part),
                Component::CurDir => {}
                Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                    return Err(escapes());
                }
            }
        }
        // A symlink planted inside the root could still lead out: the
        // deepest part of the path that exists must resolve inside it.
        let mut probe = real.as_path();
        loop {
            match probe.canonicalize() {
                Ok(resolved) if resolved.starts_with(&self.root) => break,
                Ok(_) => return Err(escapes()),
                Err(_) => match probe.parent() {
                    Some(parent) => probe = parent,
                    None => break,
                },
            }
        }
        Ok(real)
    }
}

impl Disk for RealDisk {
    fn write(&self, path: &str, bytes: &[u8]) -> io::Result<()> {
        let mut file = File::create(self.resolve(path)?)?;
        file.write_all(bytes)
    }

    fn sync(&self, path: &str) -> io::Result<()> {
        // fsync acts on the file, not the descriptor: a fresh one will do.
        OpenOptions::new()
            .write(true)
            .open(self.resolve(path)?)?
            .sync_all()
    }

    fn sync_dir(&self, dir: &str) -> io::Result<()> {
        File::open(self.resolve(dir)?)?.sync_all()
    }

    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        fs::read(self.resolve(path)?)
    }

    fn list(&self, dir: &str) -> io::Result<Vec<String>> {
        let entries = match fs::read_dir(self.resolve(dir)?) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut names = Vec::new();
        for entry in entries {
            names.push(entry?.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    fn remove(&self, path: &str) -> io::Result<()> {
        fs::remove_file(self.resolve(path)?)
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        fs::rename(self.resolve(from)?, self.resolve(to)?)
    }

    fn create_dir_all(&self, dir: &str) -> io::Result<()> {
        fs::create_dir_all(self.resolve(dir)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mailsim-disk-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn files_round_trip_and_list_sorted() {
        let dir = scratch("roundtrip");
        let disk = RealDisk::new(&dir.join("host")).unwrap();
        assert_eq!(disk.list("spool").unwrap(), Vec::<String>::new());
        disk.create_dir_all("spool").unwrap();
        disk.write("spool/b.tmp", b"two").unwrap();
        disk.write("/spool/a", b"one").unwrap();
        disk.sync("spool/a").unwrap();
        disk.rename("spool/b.tmp", "spool/b").unwrap();
        disk.sync_dir("spool").unwrap();
        assert_eq!(disk.list("spool").unwrap(), ["a", "b"]);
        assert_eq!(disk.read("spool/b").unwrap(), b"two");
        disk.remove("spool/a").unwrap();
        assert_eq!(disk.list("spool").unwrap(), ["b"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn nothing_leaves_the_root() {
        let dir = scratch("escape");
        let disk = RealDisk::new(&dir.join("host")).unwrap();
        fs::write(dir.join("outside"), b"secret").unwrap();
        for path in ["../outside", "spool/../../outside", "a/../../outside"] {
            let error = disk.read(path).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{path}");
            assert!(disk.write(path, b"x").is_err(), "{path}");
        }
        std::os::unix::fs::symlink(&dir, dir.join("host/link")).unwrap();
        assert!(disk.read("link/outside").is_err());
        assert!(disk.write("link/new", b"x").is_err());
        assert!(!dir.join("new").exists());
        assert_eq!(fs::read(dir.join("outside")).unwrap(), b"secret");
        fs::remove_dir_all(&dir).unwrap();
    }
}
