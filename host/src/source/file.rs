//! Reading a log file to its end, or following it like `tail -F`.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::SourceError;
use super::lines::{LineSplitter, Packed};
use crate::contract::Batch;
use crate::model::Position;

/// Bytes of a file's head fingerprinted to tell a file from a later one that
/// reuses its inode.
const HEAD_BYTES: u64 = 1024;

/// A log file, read line by line.
///
/// With `follow`, the end of the file is not the end of the input: the source
/// waits for more lines, notices rotation (the path now names another file:
/// the old one is read to its end first) and truncation (the file shrank:
/// reading starts again at its beginning).
pub struct FileSource {
    path: PathBuf,
    follow: bool,
    poll: Duration,
    file: File,
    identity: FileIdentity,
    splitter: LineSplitter,
    batch_records: usize,
    finished: bool,
    /// Fingerprint of the file's head as first read: (bytes, hash).
    head: Option<(u64, u64)>,
}

/// Which file a position refers to: device and inode, plus a fingerprint of
/// the head so a new file reusing the inode is not mistaken for the old one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileIdentity {
    dev: u64,
    ino: u64,
}

impl FileIdentity {
    fn of(file: &File) -> std::io::Result<Self> {
        let meta = file.metadata()?;
        Ok(Self {
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }

    fn of_path(path: &Path) -> std::io::Result<Self> {
        let meta = std::fs::metadata(path)?;
        Ok(Self {
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }

    fn render(self) -> String {
        format!("{}:{}", self.dev, self.ino)
    }
}

fn head_hash(file: &File, len: u64) -> std::io::Result<u64> {
    let mut head = vec![0; len as usize];
    file.read_exact_at(&mut head, 0)?;
    Ok(xxhash_rust::xxh3::xxh3_64(&head))
}

impl FileSource {
    /// Opens `path`, resuming at `resume` when it names this very file.
    pub fn open(
        path: &Path,
        follow: bool,
        poll: Duration,
        max_record_bytes: usize,
        batch_records: usize,
        resume: Option<&Position>,
    ) -> Result<Self, SourceError> {
        let io = |source| SourceError::Io {
            what: format!("cannot open {}", path.display()),
            source,
        };
        let mut file = File::open(path).map_err(io)?;
        let identity = FileIdentity::of(&file).map_err(io)?;
        let offset = match resume {
            Some(position) => resume_offset(&file, identity, position).map_err(io)?,
            None => 0,
        };
        let lines = match resume {
            Some(position) if offset > 0 && offset == position.offset => position.line,
            _ => 0,
        };
        if offset > 0 {
            tracing::info!(path = %path.display(), offset, "resuming file from checkpoint");
        }
        file.seek(SeekFrom::Start(offset)).map_err(io)?;
        Ok(Self {
            path: path.to_owned(),
            follow,
            poll,
            file,
            identity,
            splitter: LineSplitter::new(offset, lines, max_record_bytes),
            batch_records,
            finished: false,
            head: None,
        })
    }

    /// The next batch; `None` once a non-followed file is read. In follow
    /// mode an empty batch means "nothing new for one poll interval", which
    /// gives the pipeline a chance to checkpoint.
    pub async fn next_batch(&mut self) -> Result<Option<Batch>, SourceError> {
        if self.finished {
            return Ok(None);
        }
        let name = self.path.display().to_string();
        let mut batch = self.splitter.empty_batch(&name, self.batch_records);
        loop {
            if self.splitter.pack(&mut batch, self.batch_records, 0) == Packed::Full {
                return Ok(Some(batch));
            }
            let n = self
                .file
                .read(self.splitter.space())
                .map_err(|source| SourceError::Io {
                    what: format!("cannot read {name}"),
                    source,
                })?;
            if n > 0 {
                self.splitter.filled(n);
                continue;
            }
            if !self.follow {
                self.splitter.finish(&mut batch, 0);
                self.finished = true;
                return Ok(Some(batch));
            }
            if !batch.records.is_empty() {
                return Ok(Some(batch));
            }
            // Idle: wait, then look for rotation or truncation before reading
            // again, so a rewritten file is never read from a stale offset.
            tokio::time::sleep(self.poll).await;
            if self.reopen_if_rotated_or_truncated(&mut batch)? && batch.records.is_empty() {
                continue;
            }
            return Ok(Some(batch));
        }
    }

    /// Handles rotation and truncation at the end of the file; returns
    /// whether reading should go on at once.
    fn reopen_if_rotated_or_truncated(&mut self, batch: &mut Batch) -> Result<bool, SourceError> {
        let Ok(current) = FileIdentity::of_path(&self.path) else {
            // Mid-rotation: the path is missing for a moment.
            return Ok(false);
        };
        if current != self.identity {
            // Rotated: the old file is at its end; its unterminated last line is complete.
            self.splitter.finish(batch, 0);
            match File::open(&self.path) {
                Ok(file) => {
                    tracing::info!(path = %self.path.display(), "file rotated; reading the new file from its start");
                    self.identity = FileIdentity::of(&file).unwrap_or(current);
                    self.file = file;
                    self.head = None;
                    self.splitter.reset(0);
                    return Ok(true);
                }
                Err(_) => return Ok(false),
            }
        }
        let len = self.file.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
        if len < self.splitter.committed() || self.head_changed() {
            tracing::warn!(path = %self.path.display(), len, "file truncated; reading again from its start");
            self.file
                .seek(SeekFrom::Start(0))
                .map_err(|source| SourceError::Io {
                    what: format!("cannot seek {}", self.path.display()),
                    source,
                })?;
            self.head = None;
            self.splitter.reset(0);
            return Ok(true);
        }
        Ok(false)
    }

    /// Whether the file's first bytes are no longer those already read: it
    /// was truncated and rewritten, maybe already past the old length.
    fn head_changed(&mut self) -> bool {
        let head_len = self.splitter.committed().min(HEAD_BYTES);
        let Ok(hash) = head_hash(&self.file, head_len) else {
            return true;
        };
        match self.head {
            Some((len, old)) if len == head_len => old != hash,
            _ => {
                self.head = Some((head_len, hash));
                false
            }
        }
    }

    /// Where a restart resumes: just past the last line handed out.
    pub fn position(&self) -> Position {
        let head_len = self.splitter.committed().min(HEAD_BYTES);
        Position {
            identity: self.identity.render(),
            head_len,
            head_hash: head_hash(&self.file, head_len).unwrap_or(0),
            offset: self.splitter.committed(),
            line: self.splitter.lines(),
        }
    }

    /// The line numbers of the records handed out since the last call.
    pub fn take_lines(&mut self) -> Vec<u64> {
        self.splitter.take_lines()
    }

    /// Source counters.
    pub fn stats(&self) -> crate::model::SourceStats {
        self.splitter.stats
    }
}

/// Where to start reading `file` given a checkpointed position: the
/// position's offset if it names this file and the file still holds it,
/// else the file's start (with a warning: a different file is new input).
fn resume_offset(file: &File, identity: FileIdentity, position: &Position) -> std::io::Result<u64> {
    let len = file.metadata()?.len();
    let same_file = position.identity == identity.render()
        && position.head_len <= len
        && head_hash(file, position.head_len)? == position.head_hash;
    if same_file && position.offset <= len {
        return Ok(position.offset);
    }
    tracing::warn!(
        checkpointed = %position.identity,
        offset = position.offset,
        "the checkpoint names another file or a longer one; reading this file from its start"
    );
    Ok(0)
}
