//! Watching the config file and the files it names, for reload on change.
//!
//! What: [`ConfigWatch`] says when the watched files have changed and then
//! stayed quiet for [`DEBOUNCE`] (editors and config management write in
//! several steps: truncate + write, or write a temporary file and rename
//! it over the original).
//!
//! How: inotify through the `notify` crate, on the files' directories
//! rather than the files themselves, because a rename over a file replaces
//! its inode and a watch on the old inode would go silent. Events for other
//! files in those directories are ignored. The reloader still compares the
//! files' hashes with the running config's before reloading, so a touch
//! that changes nothing changes nothing.
//!
//! Threads: notify's thread only sends event paths into a channel; the
//! admin thread drains it from its control loop.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Quiet time after the last event before a change counts.
pub const DEBOUNCE: Duration = Duration::from_millis(300);

pub struct ConfigWatch {
    watcher: notify::RecommendedWatcher,
    events: crossbeam_channel::Receiver<Vec<PathBuf>>,
    files: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
    last_event: Option<Instant>,
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

impl ConfigWatch {
    /// Watches `files`; `None` (with a message) when inotify is not
    /// available, in which case SIGHUP and `POST /-/reload` still work.
    pub fn start(files: &[PathBuf]) -> Option<ConfigWatch> {
        let (tx, events) = crossbeam_channel::unbounded();
        let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            // Reads (ours included: a reload opens the files) are not
            // changes.
            if let Ok(e) = res {
                use notify::EventKind::{Create, Modify, Remove};
                if matches!(e.kind, Create(_) | Modify(_) | Remove(_)) {
                    let _ = tx.send(e.paths);
                }
            }
        });
        let watcher = match watcher {
            Ok(w) => w,
            Err(e) => {
                eprintln!("sluice: cannot watch the config for changes ({e}); reload with SIGHUP or POST /-/reload");
                return None;
            }
        };
        let mut w = ConfigWatch {
            watcher,
            events,
            files: Vec::new(),
            dirs: Vec::new(),
            last_event: None,
        };
        w.rewatch(files);
        Some(w)
    }

    /// Replaces the set of watched files (after a reload: the new config
    /// may name other files).
    pub fn rewatch(&mut self, files: &[PathBuf]) {
        use notify::Watcher;
        let files: Vec<PathBuf> = files.iter().map(|f| absolute(f)).collect();
        let mut dirs: Vec<PathBuf> = files
            .iter()
            .filter_map(|f| f.parent().map(Path::to_path_buf))
            .collect();
        dirs.sort();
        dirs.dedup();
        for d in self.dirs.iter().filter(|d| !dirs.contains(d)) {
            let _ = self.watcher.unwatch(d);
        }
        for d in dirs.iter().filter(|d| !self.dirs.contains(d)) {
            if let Err(e) = self.watcher.watch(d, notify::RecursiveMode::NonRecursive) {
                eprintln!("sluice: cannot watch {}: {e}", d.display());
            }
        }
        self.files = files;
        self.dirs = dirs;
    }

    /// True once after the watched files changed and then stayed quiet
    /// for [`DEBOUNCE`].
    pub fn settled(&mut self) -> bool {
        while let Ok(paths) = self.events.try_recv() {
            if paths.iter().any(|p| self.files.contains(p)) {
                self.last_event = Some(Instant::now());
            }
        }
        match self.last_event {
            Some(t) if t.elapsed() >= DEBOUNCE => {
                self.last_event = None;
                true
            }
            _ => false,
        }
    }
}
