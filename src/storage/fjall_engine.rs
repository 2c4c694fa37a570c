//! The fjall engine (default): one fjall keyspace per [`Space`], written with one cross-keyspace
//! `WriteBatch` per commit, read through `Database::snapshot()` so that a read spanning keys never
//! sees part of a batch.
//!
//! Keyspaces are created without key-value separation, and the journal is not compressed. The
//! data blocks of the log and the transaction records (the truth: written once, read seldom,
//! and most of a store's bytes) are compressed with LZ4; those of the views are not, so reads
//! of live data decompress nothing. A purge must still be able to prove that erased bytes are
//! gone from every file: LZ4 keeps a value that appears once as its own bytes, so a byte scan
//! still finds it, and `compact` copies what is left into fresh files (see `docs/design.md`
//! §3 and §11). Keyspace options are fixed when a keyspace is created: a store made by an
//! earlier build keeps an uncompressed log until its next `compact`.
//! Memory settings are explicit: a 32 MiB block cache, 32 MiB memtables per keyspace, a 256 MiB
//! journal cap (replay time at open grows with it).

use std::ops::Bound;
use std::path::{Path, PathBuf};

use fjall::config::CompressionPolicy;
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode, Readable};

use super::Space;
use super::{empty_range, owned_bound, Batch, Engine, EngineKind, KvIter, ReadView};
use crate::error::{Error, Result};

/// How the data blocks of `space` are compressed (fixed when its keyspace is created).
fn data_compression(space: Space) -> CompressionPolicy {
    match space {
        Space::Log | Space::Tx => CompressionPolicy::all(fjall::CompressionType::Lz4),
        _ => CompressionPolicy::disabled(),
    }
}

/// The fjall-backed engine.
pub struct FjallEngine {
    path: PathBuf,
    db: Database,
    /// By [`Space`] discriminant; `None` for a space this engine does not hold.
    spaces: Vec<Option<Keyspace>>,
}

impl FjallEngine {
    /// Opens (or creates) the engine's files in `path`.
    #[cfg_attr(
        not(any(test, feature = "internals")),
        allow(dead_code, reason = "the tests and the benches open engines directly")
    )]
    pub fn open(path: &Path) -> Result<FjallEngine> {
        FjallEngine::open_existing(path, false)
    }

    /// Opens the engine's files in `path`; with `existing`, they must all be there (a store
    /// that was created completely): a missing folder, version file, `current` pointer or
    /// keyspace is `Corrupted` before fjall touches anything, where fjall would otherwise start
    /// empty, or delete a keyspace folder whose `current` is gone. Without it, what is missing
    /// is created (a new store, or one whose creation was interrupted).
    pub fn open_existing(path: &Path, existing: bool) -> Result<FjallEngine> {
        FjallEngine::open_spaces(path, existing, &Space::ALL)
    }

    /// [`FjallEngine::open_existing`] holding only `held` (the log part of
    /// [`super::fjall_redb::FjallRedb`]); a read or write of another space is a storage error.
    pub(crate) fn open_spaces(path: &Path, existing: bool, held: &[Space]) -> Result<FjallEngine> {
        check_layout(path, existing)?;
        check_version_files(path)?;
        clear_flushed_journal(path)?;
        let p = path.to_path_buf();
        let opened = std::panic::catch_unwind(|| -> Result<(Database, Vec<Option<Keyspace>>)> {
            let db = Database::builder(&p)
                .cache_size(32 << 20)
                .max_journaling_size(256 << 20)
                .journal_compression(fjall::CompressionType::None)
                .open()
                .map_err(|e| map_err(&p, e))?;
            let mut spaces = Vec::with_capacity(Space::ALL.len());
            for s in Space::ALL {
                if !held.contains(&s) {
                    spaces.push(None);
                    continue;
                }
                if existing && !db.keyspace_exists(s.name()) {
                    return Err(damaged(
                        &p.join("keyspaces"),
                        format!("the `{}` keyspace is missing", s.name()),
                    ));
                }
                let ks = db
                    .keyspace(s.name(), || {
                        KeyspaceCreateOptions::default()
                            .data_block_compression_policy(data_compression(s))
                            .index_block_compression_policy(CompressionPolicy::disabled())
                            .with_kv_separation(None)
                            .max_memtable_size(32 << 20)
                    })
                    .map_err(|e| map_err(&p, e))?;
                spaces.push(Some(ks));
            }
            Ok((db, spaces))
        });
        match opened {
            Ok(Ok((db, spaces))) => Ok(FjallEngine {
                path: path.to_path_buf(),
                db,
                spaces,
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::corrupted(
                path.display().to_string(),
                "the fjall engine could not open its files (it panicked while reading them)",
            )),
        }
    }

    fn ks(&self, space: Space) -> Result<&Keyspace> {
        self.spaces
            .get(space as usize)
            .and_then(Option::as_ref)
            .ok_or_else(|| Error::Storage(format!("keyspace {} missing", space.name())))
    }

    /// Applies the changes as one fjall batch (durability `Buffer`: the journal reaches the OS
    /// at once).
    pub(crate) fn write_changes<'a>(
        &self,
        changes: impl Iterator<Item = super::Change<'a>>,
    ) -> Result<()> {
        let mut b = fjall::OwnedWriteBatch::with_capacity(self.db.clone(), 0)
            .durability(Some(PersistMode::Buffer));
        for (s, k, v) in changes {
            match v {
                Some(v) => b.insert(self.ks(s)?, k, v),
                None => b.remove(self.ks(s)?, k),
            }
        }
        if b.is_empty() {
            return Ok(());
        }
        b.commit().map_err(|e| map_err(&self.path, e))
    }

    /// Flushes every memtable to a table file and waits for it, then records the journal files
    /// in `journal.ok`: everything they hold is now in table files too, so the next open can
    /// empty them instead of reading them through (see [`clear_flushed_journal`]). A write after
    /// this grows a journal file, and the record no longer matches.
    pub(crate) fn close_flushed(&self) -> Result<()> {
        for ks in self.spaces.iter().flatten() {
            ks.rotate_memtable_and_wait()
                .map_err(|e| map_err(&self.path, e))?;
        }
        self.db
            .persist(PersistMode::SyncAll)
            .map_err(|e| map_err(&self.path, e))?;
        let record = self.path.join(JOURNAL_OK);
        let _ = std::fs::remove_file(&record);
        if let Some(stamp) = journal_stamp(&self.path)? {
            let tmp = self.path.join(format!("{JOURNAL_OK}.tmp"));
            let written = std::fs::write(&tmp, stamp)
                .and_then(|()| std::fs::File::open(&tmp)?.sync_all())
                .and_then(|()| std::fs::rename(&tmp, &record));
            if let Err(e) = written {
                let _ = std::fs::remove_file(&tmp);
                return Err(Error::io(&record, e));
            }
        }
        Ok(())
    }

    /// A snapshot of the held spaces.
    pub(crate) fn snapshot(&self) -> fjall::Snapshot {
        self.db.snapshot()
    }

    /// A read view over a snapshot taken by [`FjallEngine::snapshot`].
    pub(crate) fn view_of(&self, snap: fjall::Snapshot) -> View<'_> {
        View { engine: self, snap }
    }
}

/// The error for engine files that are damaged or missing, with what to do.
fn damaged(place: &Path, why: String) -> Error {
    Error::corrupted(
        place.display().to_string(),
        format!(
            "{why}; the engine's files are damaged: restore the store from a backup or from an \
             earlier export (`lazarus import` into a new store)"
        ),
    )
}

/// The error for something in the engine's folders that fjall would choke on (a panic inside
/// fjall or lsm-tree aborts the process) or misread, put there by something else.
fn stray(place: &Path, what: &str) -> Error {
    Error::corrupted(
        place.display().to_string(),
        format!(
            "{what} does not belong in the engine's files (a tool, a copy or a file system \
             check put it there?): move it out of the store folder and open the store again"
        ),
    )
}

fn is_number(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit())
}

/// The entries of a folder: (name, path, is a folder). Names that are not UTF-8 are refused.
fn entries(dir: &Path) -> Result<Vec<(String, PathBuf, bool)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let is_dir = entry.file_type().map_err(|e| Error::io(&path, e))?.is_dir();
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            return Err(stray(&path, "a file whose name is not UTF-8"));
        };
        out.push((name, path, is_dir));
    }
    Ok(out)
}

/// The record [`FjallEngine::close_flushed`] leaves in fjall's folder (fjall ignores files that
/// are not journals there).
const JOURNAL_OK: &str = "journal.ok";

/// The stamp of every journal file in `path`, in name order; `None` where files cannot be
/// stamped (see [`super::file_stamp`]).
fn journal_stamp(path: &Path) -> Result<Option<String>> {
    let mut journals: Vec<(String, PathBuf)> = entries(path)?
        .into_iter()
        .filter(|(name, _, is_dir)| !is_dir && name.ends_with(".jnl"))
        .map(|(name, p, _)| (name, p))
        .collect();
    journals.sort();
    let mut out = String::from("lazarusdb journal flushed at close\n");
    for (name, p) in journals {
        let Some(stamp) = super::file_stamp(&p) else {
            return Ok(None);
        };
        out.push_str(&format!("file {name}\n{stamp}"));
    }
    Ok(Some(out))
}

/// Opening fjall reads every journal entry through, already flushed or not (half a second for
/// a 50 MB journal, and fjall starts a new journal only past 64 MB). A journal whose entries a
/// clean close flushed to table files, unchanged since (the record in `journal.ok` matches
/// each file's size, inode and change time), is emptied instead: it holds nothing the table
/// files lack, which is the condition on which fjall deletes old journals itself. The record
/// goes either way, so it is trusted once.
fn clear_flushed_journal(path: &Path) -> Result<()> {
    let record = path.join(JOURNAL_OK);
    let recorded = match std::fs::read_to_string(&record) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        // unreadable (not UTF-8, say): not trusted, and removed below
        Err(_) => String::new(),
    };
    if journal_stamp(path)?.is_some_and(|now| now == recorded) {
        for (name, p, is_dir) in entries(path)? {
            if !is_dir && name.ends_with(".jnl") {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&p)
                    .map_err(|e| Error::io(&p, e))?;
                f.set_len(0).map_err(|e| Error::io(&p, e))?;
                f.sync_all().map_err(|e| Error::io(&p, e))?;
            }
        }
    }
    std::fs::remove_file(&record).map_err(|e| Error::io(&record, e))
}

/// Checks the shape of fjall's folder before fjall reads it (fjall 3.1 / lsm-tree 3.1):
///
/// ```text
/// version, lock, <n>.jnl          files of the database
/// keyspaces/<n>/                  one folder per keyspace, named by its id (0: fjall's meta)
/// keyspaces/<n>/current           the version pointer (checked by check_version_files)
/// keyspaces/<n>/v<id>             version files
/// keyspaces/<n>/tables/<id>       table files
/// keyspaces/<n>/blobs/<id>        blob files (not used by our keyspaces)
/// .tmp*                           an interrupted atomic rewrite (fjall's temporary files)
/// ```
///
/// fjall panics (and the process aborts) on a folder where a table file belongs or a keyspace
/// folder not named by a number; it deletes a keyspace folder that has no `current` and table
/// files it does not know. A stray file it would only skip is left alone; anything that would
/// make it abort, delete or start empty is `Corrupted`, naming the path.
fn check_layout(path: &Path, existing: bool) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(stray(path, "a file where the engine's folder belongs")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !existing => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(damaged(path, "the engine's folder is missing".into()))
        }
        Err(e) => return Err(Error::io(path, e)),
    }
    let keyspaces = path.join("keyspaces");
    if existing {
        for must in ["version", "keyspaces"] {
            if !path.join(must).exists() {
                return Err(damaged(&path.join(must), format!("`{must}` is missing")));
            }
        }
        // fjall's lock file holds nothing; it is only opened to be locked, and fjall does not
        // make it again when it is gone
        let lock = path.join("lock");
        if !lock.exists() {
            std::fs::File::create(&lock).map_err(|e| Error::io(&lock, e))?;
        }
    }
    for (name, p, is_dir) in entries(path)? {
        if is_dir && name != "keyspaces" && !name.starts_with(".tmp") {
            return Err(stray(&p, "a folder"));
        }
        if !is_dir && name == "keyspaces" {
            return Err(stray(&p, "a file where the keyspaces folder belongs"));
        }
    }
    if !keyspaces.exists() {
        return Ok(());
    }
    for (name, ks, is_dir) in entries(&keyspaces)? {
        if !is_dir {
            continue; // fjall skips stray files here
        }
        if !is_number(&name) {
            return Err(stray(&ks, "a folder not named by a keyspace id"));
        }
        if existing && !ks.join("current").is_file() {
            // fjall would delete the whole keyspace folder as never initialized
            return Err(damaged(
                &ks,
                "a keyspace folder has no `current` version pointer".into(),
            ));
        }
        for (name, p, is_dir) in entries(&ks)? {
            match (name.as_str(), is_dir) {
                ("tables" | "blobs", true) => {
                    for (name, file, is_dir) in entries(&p)? {
                        if is_dir {
                            return Err(stray(&file, "a folder"));
                        }
                        if !is_number(&name) && name != ".DS_Store" && !name.starts_with("._") {
                            return Err(stray(&file, "a file not named by a table id"));
                        }
                    }
                }
                (_, true) => return Err(stray(&p, "a folder")),
                ("tables" | "blobs", false) => {
                    return Err(stray(&p, "a file where a folder belongs"))
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Checks every keyspace's current version file against the checksum its `current` file holds,
/// before fjall reads them.
///
/// A version file lists a keyspace's table files. fjall (lsm-tree 3.1) decodes it without
/// checking that checksum, and a damaged count in it makes the process try to allocate tens of
/// gigabytes and abort, which no `catch_unwind` can turn into an error. What fjall handles
/// itself is left to it: stray files beside the keyspace folders, a folder without `current`,
/// a version file that is missing. The layout checked here
/// is lsm-tree's: `keyspaces/<n>/current` is the version id (u64, little-endian), the xxh3-128
/// of the version file (u128, little-endian) and the checksum type (0 = xxh3); the version
/// file is `keyspaces/<n>/v<id>`, written whole and fsynced before `current` names it.
fn check_version_files(path: &Path) -> Result<()> {
    let keyspaces = path.join("keyspaces");
    let entries = match std::fs::read_dir(&keyspaces) {
        Ok(e) => e,
        // A new store, or one fjall will report on itself.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(&keyspaces, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(&keyspaces, e))?;
        // Anything but a folder (a stray file) is fjall's to skip, as it does.
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let folder = entry.path();
        let current = folder.join("current");
        let bytes = match std::fs::read(&current) {
            Ok(b) => b,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                continue
            }
            Err(e) => return Err(Error::io(&current, e)),
        };
        let damaged = |why: String| Err(damaged(&current, why));
        let (Some(id), Some(sum), Some(&kind)) = (
            bytes.get(0..8).and_then(|b| <[u8; 8]>::try_from(b).ok()),
            bytes.get(8..24).and_then(|b| <[u8; 16]>::try_from(b).ok()),
            bytes.get(24),
        ) else {
            return damaged(format!(
                "the version pointer is {} bytes long, not 25",
                bytes.len()
            ));
        };
        if bytes.len() != 25 || kind != 0 {
            return damaged(format!(
                "the version pointer is not one fjall writes ({} bytes, checksum type {kind})",
                bytes.len()
            ));
        }
        let version = folder.join(format!("v{}", u64::from_le_bytes(id)));
        let data = match std::fs::read(&version) {
            Ok(d) => d,
            // fjall reports a missing version file itself (an error, not an abort), and may
            // not even read it: a keyspace folder it never registered is deleted at open.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(&version, e)),
        };
        if xxhash_rust::xxh3::xxh3_128(&data) != u128::from_le_bytes(sum) {
            return damaged(format!(
                "the version file {} does not match its checksum",
                version.display()
            ));
        }
        // The tables the version lists (a file it does not list is an orphan of an interrupted
        // flush or compaction, which fjall deletes unread).
        let listed = match listed_tables(&version) {
            Ok(l) => l,
            Err(why) => return damaged(why),
        };
        for (table, _) in listed {
            let file = folder.join("tables").join(table.to_string());
            if file.is_file() {
                check_table_toc(&file)?;
            }
        }
    }
    Ok(())
}

/// The size of an sfa archive's trailer: magic `SFA!`, version (1), checksum type (0), the
/// table of contents' xxh3-128, its position and its length (u64 LE each).
const SFA_TRAILER: u64 = 4 + 1 + 1 + 16 + 8 + 8;

/// Checks a table file's table of contents against the checksum in its trailer before fjall
/// reads it: sfa 1.0 allocates room for the entry count it reads before it checks that
/// checksum, so a damaged count aborts the process. Reads only the trailer and the table of
/// contents (a few hundred bytes), not the file.
fn check_table_toc(file: &Path) -> Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let bad = |why: &str| Err(damaged(file, format!("the table file's {why}")));
    let mut f = std::fs::File::open(file).map_err(|e| Error::io(file, e))?;
    let len = f.metadata().map_err(|e| Error::io(file, e))?.len();
    if len < SFA_TRAILER {
        return bad("trailer is missing (the file is cut short)");
    }
    let mut trailer = [0u8; SFA_TRAILER as usize];
    f.seek(SeekFrom::Start(len - SFA_TRAILER))
        .and_then(|_| f.read_exact(&mut trailer))
        .map_err(|e| Error::io(file, e))?;
    let field = |at: usize, n: usize| trailer.get(at..at + n).unwrap_or_default();
    if field(0, 4) != b"SFA!" || field(4, 1) != [1] || field(5, 1) != [0] {
        return bad("trailer is not one fjall writes");
    }
    let sum = <[u8; 16]>::try_from(field(6, 16)).map(u128::from_le_bytes);
    let pos = <[u8; 8]>::try_from(field(22, 8)).map(u64::from_le_bytes);
    let (Ok(sum), Ok(pos)) = (sum, pos) else {
        return bad("trailer is not one fjall writes");
    };
    let toc_end = len - SFA_TRAILER;
    if pos > toc_end || toc_end - pos > 64 << 20 {
        return bad("table of contents lies outside the file");
    }
    let mut toc = vec![0u8; (toc_end - pos) as usize];
    f.seek(SeekFrom::Start(pos))
        .and_then(|_| f.read_exact(&mut toc))
        .map_err(|e| Error::io(file, e))?;
    if xxhash_rust::xxh3::xxh3_128(&toc) != sum {
        return bad("table of contents does not match its checksum");
    }
    Ok(())
}

/// The xxh3-128 of a file, read in pieces.
fn file_xxh3(path: &Path) -> std::io::Result<u128> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(hasher.digest128());
        }
        hasher.update(buf.get(..n).unwrap_or_default());
    }
}

/// The tables a version file lists: (table id, xxh3-128 of the table file). The `tables`
/// section (lsm-tree 3.1, `version/mod.rs`): level count (u8); per level a run count (u8); per
/// run a table count (u32 LE); per table its id (u64 LE), checksum type (u8, 0 = xxh3),
/// checksum (u128 LE) and global seqno (u64 LE).
fn listed_tables(version: &Path) -> std::result::Result<Vec<(u64, u128)>, String> {
    let data = std::fs::read(version).map_err(|e| e.to_string())?;
    let reader = sfa::Reader::new(version).map_err(|e| format!("{e:?}"))?;
    let section = reader
        .toc()
        .section(b"tables")
        .ok_or("it has no table list")?;
    let start = usize::try_from(section.pos()).map_err(|e| e.to_string())?;
    let len = usize::try_from(section.len()).map_err(|e| e.to_string())?;
    let mut rest = data
        .get(start..start.saturating_add(len))
        .ok_or("its table list lies outside the file")?;
    let mut take = |n: usize| -> std::result::Result<&[u8], String> {
        if rest.len() < n {
            return Err("its table list is cut short".into());
        }
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Ok(head)
    };
    let mut out = Vec::new();
    let levels = *take(1)?.first().unwrap_or(&0);
    for _ in 0..levels {
        let runs = *take(1)?.first().unwrap_or(&0);
        for _ in 0..runs {
            let n = u32::from_le_bytes(take(4)?.try_into().map_err(|_| "short")?);
            for _ in 0..n {
                let id = u64::from_le_bytes(take(8)?.try_into().map_err(|_| "short")?);
                if take(1)? != [0] {
                    return Err("a table checksum is not xxh3".into());
                }
                let sum = u128::from_le_bytes(take(16)?.try_into().map_err(|_| "short")?);
                take(8)?;
                out.push((id, sum));
            }
        }
    }
    Ok(out)
}

/// See [`Engine::check_files`]: every table file of every keyspace against its recorded
/// checksum. A compaction running meanwhile may replace a keyspace's tables: a keyspace whose
/// `current` pointer changed during its check is checked again.
fn check_table_files(path: &Path) -> Result<Vec<String>> {
    let keyspaces = path.join("keyspaces");
    let mut problems = Vec::new();
    for (name, ks, is_dir) in entries(&keyspaces)? {
        if !is_dir || !is_number(&name) {
            continue;
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let current = std::fs::read(ks.join("current")).map_err(|e| Error::io(&ks, e))?;
            let Some(id) = current
                .get(0..8)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_le_bytes)
            else {
                problems.push(format!("{}: the version pointer is short", ks.display()));
                break;
            };
            let version = ks.join(format!("v{id}"));
            let mut found = Vec::new();
            match listed_tables(&version) {
                Err(why) => found.push(format!("{}: {why}", version.display())),
                Ok(tables) => {
                    for (table, sum) in tables {
                        let file = ks.join("tables").join(table.to_string());
                        match file_xxh3(&file) {
                            Ok(got) if got == sum => {}
                            Ok(_) => found.push(format!(
                                "{}: the table file does not match its checksum",
                                file.display()
                            )),
                            Err(e) => found.push(format!("{}: {e}", file.display())),
                        }
                    }
                }
            }
            let moved = std::fs::read(ks.join("current")).ok() != Some(current);
            if found.is_empty() || !moved || attempt >= 5 {
                problems.extend(found);
                break;
            }
        }
    }
    Ok(problems)
}

fn map_err(path: &Path, e: fjall::Error) -> Error {
    match e {
        fjall::Error::Locked => Error::Locked(path.to_path_buf()),
        fjall::Error::Io(source) => Error::io(path, source),
        fjall::Error::Poisoned => {
            Error::Poisoned("fjall refused a write after a failed flush".into())
        }
        fjall::Error::InvalidVersion(v) => Error::corrupted(
            path.display().to_string(),
            format!("fjall files of an unsupported version {v:?}"),
        ),
        other => Error::Storage(format!("fjall: {other:?}")),
    }
}

/// A consistent read view of a [`FjallEngine`].
pub(crate) struct View<'a> {
    engine: &'a FjallEngine,
    snap: fjall::Snapshot,
}

impl ReadView for View<'_> {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let ks = self.engine.ks(space)?;
        self.snap
            .get(ks, key)
            .map(|v| v.map(|s| s.to_vec()))
            .map_err(|e| map_err(&self.engine.path, e))
    }

    fn range<'a>(
        &'a self,
        space: Space,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        reverse: bool,
    ) -> Result<KvIter<'a>> {
        let ks = self.engine.ks(space)?;
        let (s, e) = (owned_bound(start), owned_bound(end));
        if empty_range(&s, &e) {
            return Ok(Box::new(std::iter::empty()));
        }
        let it = self.snap.range::<Vec<u8>, _>(ks, (s, e));
        let path = &self.engine.path;
        let conv = move |g: fjall::Guard| {
            g.into_inner()
                .map(|(k, v)| (k.to_vec(), v.to_vec()))
                .map_err(|e| map_err(path, e))
        };
        if reverse {
            Ok(Box::new(it.rev().map(conv)))
        } else {
            Ok(Box::new(it.map(conv)))
        }
    }
}

impl Engine for FjallEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Fjall
    }

    fn read(&self) -> Result<Box<dyn ReadView + '_>> {
        Ok(Box::new(View {
            engine: self,
            snap: self.db.snapshot(),
        }))
    }

    fn write(&self, batch: &Batch) -> Result<()> {
        let mut b = self.db.batch();
        for (s, k, v) in batch.iter() {
            match v {
                Some(v) => b.insert(self.ks(s)?, k, v),
                None => b.remove(self.ks(s)?, k),
            }
        }
        b.commit().map_err(|e| map_err(&self.path, e))
    }

    /// One fjall batch for the whole group, each key once (a fjall batch does not merge
    /// repeated keys itself).
    fn write_group(&self, group: &[std::sync::Arc<Batch>]) -> Result<()> {
        if let [one] = group {
            return self.write(one);
        }
        let changes = super::group_changes(group);
        // Durability `Buffer`, as `Database::batch` sets it: the journal reaches the OS at once.
        let mut b = fjall::OwnedWriteBatch::with_capacity(self.db.clone(), changes.len())
            .durability(Some(PersistMode::Buffer));
        for (s, k, v) in changes {
            match v {
                Some(v) => b.insert(self.ks(s)?, k, v),
                None => b.remove(self.ks(s)?, k),
            }
        }
        b.commit().map_err(|e| map_err(&self.path, e))
    }

    fn sync(&self) -> Result<()> {
        self.db
            .persist(PersistMode::SyncData)
            .map_err(|e| map_err(&self.path, e))
    }

    /// Memtables flushed and the journal recorded, so that the next open reads no journal.
    fn close(&self) -> Result<()> {
        self.close_flushed()
    }

    /// fjall reads from snapshots: an open view never holds a write up.
    fn snapshots_hold_writes(&self) -> bool {
        false
    }

    fn disk_bytes(&self) -> Result<u64> {
        self.db.disk_space().map_err(|e| map_err(&self.path, e))
    }

    /// Reads every table file of every keyspace and compares its xxh3-128 with the checksum
    /// the keyspace's version file records for it (lsm-tree checks it at no other time: a
    /// damaged filter or index block is found only by the point read that needs it).
    fn check_files(&self) -> Result<Vec<String>> {
        check_table_files(&self.path)
    }

    /// fjall's ingestion writes the pairs straight into table files, bypassing the journal, so
    /// a compacted store holds each key once (through the journal it would hold them twice
    /// until the memtables were flushed). Ingestion asserts the key order; it is checked here
    /// first, so a store that returned keys out of order is an error, not a panic.
    fn load_sorted(
        &self,
        space: Space,
        items: &mut dyn Iterator<Item = Result<super::KvPair>>,
    ) -> Result<()> {
        let ks = self.ks(space)?;
        let mut ingestion = ks.start_ingestion().map_err(|e| map_err(&self.path, e))?;
        let mut last: Option<Vec<u8>> = None;
        for item in items {
            let (k, v) = item?;
            if last.as_ref().is_some_and(|l| *l >= k) {
                return Err(Error::corrupted(
                    format!("{} space", space.name()),
                    "keys came out of order while copying the store",
                ));
            }
            ingestion
                .write(k.clone(), v)
                .map_err(|e| map_err(&self.path, e))?;
            last = Some(k);
        }
        ingestion.finish().map_err(|e| map_err(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn conformance() {
        let dir = tempfile::tempdir().unwrap();
        let e = super::FjallEngine::open(dir.path()).unwrap();
        super::super::conformance::run(&e);
    }

    /// The log's table files are compressed (LZ4), and the erasure checks scan files for a
    /// purged value's bytes: that holds because LZ4 stores a value that appears once as its own
    /// bytes (a literal), and shrinks what repeats.
    #[test]
    fn the_compressed_log_keeps_a_value_written_once_visible_to_a_byte_scan() {
        use crate::storage::{Batch, Engine, Space};
        let dir = tempfile::tempdir().unwrap();
        let secret = b"erasure-check-Qz7Kw2Vt9Xr4";
        let mut raw = 0;
        {
            let e = super::FjallEngine::open(dir.path()).unwrap();
            let mut b = Batch::default();
            for i in 0..5_000u64 {
                let mut v =
                    format!("event {i}: a child row of some moderate length, like a comment")
                        .into_bytes();
                if i == 2_500 {
                    v.extend_from_slice(secret);
                }
                raw += v.len() + 8;
                b.put(Space::Log, i.to_be_bytes().to_vec(), v);
            }
            e.write(&b).unwrap();
            // every memtable into table files
            e.close().unwrap();
        }
        let (mut table_bytes, mut holding) = (0, 0);
        for ks in std::fs::read_dir(dir.path().join("keyspaces")).unwrap() {
            for f in std::fs::read_dir(ks.unwrap().path().join("tables"))
                .into_iter()
                .flatten()
            {
                let bytes = std::fs::read(f.unwrap().path()).unwrap();
                table_bytes += bytes.len();
                holding += usize::from(bytes.windows(secret.len()).any(|w| w == secret));
            }
        }
        assert!(
            table_bytes < raw / 2,
            "{table_bytes} bytes of tables for {raw} written"
        );
        assert_eq!(holding, 1, "the value is in one table file");
    }

    #[test]
    fn check_files_reads_every_table_file_against_its_checksum() {
        use crate::storage::Engine;
        let dir = tempfile::tempdir().unwrap();
        {
            let e = super::FjallEngine::open(dir.path()).unwrap();
            let mut items = (0..2_000u32).map(|i| Ok((i.to_be_bytes().to_vec(), vec![7u8; 100])));
            e.load_sorted(crate::storage::Space::Rows, &mut items)
                .unwrap();
            e.sync().unwrap();
            assert_eq!(e.check_files().unwrap(), Vec::<String>::new());
        }
        // the table file the rows went to
        let mut tables = Vec::new();
        for ks in std::fs::read_dir(dir.path().join("keyspaces")).unwrap() {
            let t = ks.unwrap().path().join("tables");
            for f in std::fs::read_dir(&t).into_iter().flatten() {
                tables.push(f.unwrap().path());
            }
        }
        assert!(!tables.is_empty());
        let mut listed = 0;
        for t in &tables {
            let ks = t.parent().unwrap().parent().unwrap();
            let current = std::fs::read(ks.join("current")).unwrap();
            let id = u64::from_le_bytes(current[0..8].try_into().unwrap());
            let list = super::listed_tables(&ks.join(format!("v{id}"))).unwrap();
            let tid: u64 = t.file_name().unwrap().to_str().unwrap().parse().unwrap();
            let (_, sum) = list.iter().find(|(i, _)| *i == tid).unwrap();
            assert_eq!(super::file_xxh3(t).unwrap(), *sum, "{}", t.display());
            listed += 1;
        }
        assert!(listed > 0);
        let table = tables
            .iter()
            .max_by_key(|t| t.metadata().unwrap().len())
            .unwrap();
        let mut bytes = std::fs::read(table).unwrap();
        let at = bytes.len() / 3;
        bytes[at] ^= 0x01;
        std::fs::write(table, &bytes).unwrap();
        let e = super::FjallEngine::open(dir.path()).unwrap();
        let problems = e.check_files().unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("does not match its checksum"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_second_opener_is_told_the_store_is_locked() {
        let dir = tempfile::tempdir().unwrap();
        let _e = super::FjallEngine::open(dir.path()).unwrap();
        let err = super::FjallEngine::open(dir.path()).err().unwrap();
        assert!(matches!(err, crate::Error::Locked(_)), "{err}");
    }

    #[test]
    fn damaged_version_pointers_and_files_are_corruption_before_fjall_reads_them() {
        use crate::storage::{Batch, Engine};
        let dir = tempfile::tempdir().unwrap();
        {
            let e = super::FjallEngine::open(dir.path()).unwrap();
            let mut b = Batch::default();
            b.put(crate::storage::Space::Rows, vec![1], vec![2]);
            e.write(&b).unwrap();
            e.sync().unwrap();
        }
        // Intact files pass.
        super::check_version_files(dir.path()).unwrap();
        let ks = dir.path().join("keyspaces").join("0");
        let current = std::fs::read(ks.join("current")).unwrap();
        let id = u64::from_le_bytes(current[0..8].try_into().unwrap());
        let version = ks.join(format!("v{id}"));
        let original = std::fs::read(&version).unwrap();
        let expect_corrupt = |what: &str, needle: &str| {
            let err = super::check_version_files(dir.path()).unwrap_err();
            assert!(
                matches!(err, crate::Error::Corrupted { .. }) && err.to_string().contains(needle),
                "{what}: {err}"
            );
        };

        let mut flipped = original.clone();
        flipped[original.len() / 2] ^= 0x10;
        std::fs::write(&version, &flipped).unwrap();
        expect_corrupt("a flipped bit", "does not match its checksum");
        std::fs::write(&version, &original).unwrap();

        std::fs::write(ks.join("current"), &current[..20]).unwrap();
        expect_corrupt("a short pointer", "20 bytes long");

        // A pointer to a missing file is fjall's to report: an error at open, not an abort.
        let mut other = current.clone();
        other[0..8].copy_from_slice(&(id + 1000).to_le_bytes());
        std::fs::write(ks.join("current"), &other).unwrap();
        super::check_version_files(dir.path()).unwrap();
        assert!(super::FjallEngine::open(dir.path()).is_err());

        // A stray file beside the keyspace folders is skipped, as fjall skips it.
        std::fs::write(ks.join("current"), &current).unwrap();
        std::fs::write(dir.path().join("keyspaces").join(".DS_Store"), b"x").unwrap();
        super::check_version_files(dir.path()).unwrap();
        drop(super::FjallEngine::open(dir.path()).unwrap());
        // The engine itself refuses the damaged store with the same error.
        std::fs::write(&version, &flipped).unwrap();
        let err = super::FjallEngine::open(dir.path()).err().unwrap();
        assert!(matches!(err, crate::Error::Corrupted { .. }), "{err}");
    }
}

#[cfg(test)]
mod journal_tests {
    use super::{FjallEngine, JOURNAL_OK};
    use crate::storage::{Batch, Engine, Space};

    fn journal_bytes(dir: &std::path::Path) -> u64 {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "jnl"))
            .map(|p| p.metadata().unwrap().len())
            .sum()
    }

    fn put(e: &FjallEngine, k: &[u8], v: &[u8]) {
        let mut b = Batch::default();
        b.put(Space::Rows, k.to_vec(), v.to_vec());
        e.write(&b).unwrap();
    }

    fn get(e: &FjallEngine, k: &[u8]) -> Option<Vec<u8>> {
        e.read().unwrap().get(Space::Rows, k).unwrap()
    }

    #[test]
    fn a_clean_close_leaves_a_journal_the_next_open_empties() {
        let dir = tempfile::tempdir().unwrap();
        {
            let e = FjallEngine::open(dir.path()).unwrap();
            for i in 0..500u32 {
                put(&e, &i.to_be_bytes(), b"first");
            }
            e.close().unwrap();
        }
        assert!(journal_bytes(dir.path()) > 0);
        assert!(dir.path().join(JOURNAL_OK).is_file());
        {
            let e = FjallEngine::open_existing(dir.path(), true).unwrap();
            assert_eq!(journal_bytes(dir.path()), 0);
            assert!(!dir.path().join(JOURNAL_OK).exists());
            assert_eq!(get(&e, &7u32.to_be_bytes()).as_deref(), Some(&b"first"[..]));
            // writes after the emptied journal come after the flushed ones: a new value of a
            // key shadows the flushed one, through the journal and through a flush
            put(&e, &7u32.to_be_bytes(), b"second");
            put(&e, &9000u32.to_be_bytes(), b"new");
            assert_eq!(
                get(&e, &7u32.to_be_bytes()).as_deref(),
                Some(&b"second"[..])
            );
            // no close: the next open replays the journal
        }
        assert!(!dir.path().join(JOURNAL_OK).exists());
        {
            let e = FjallEngine::open_existing(dir.path(), true).unwrap();
            assert_eq!(
                get(&e, &7u32.to_be_bytes()).as_deref(),
                Some(&b"second"[..])
            );
            assert_eq!(
                get(&e, &9000u32.to_be_bytes()).as_deref(),
                Some(&b"new"[..])
            );
            assert_eq!(get(&e, &8u32.to_be_bytes()).as_deref(), Some(&b"first"[..]));
            e.close().unwrap();
        }
        let e = FjallEngine::open_existing(dir.path(), true).unwrap();
        assert_eq!(journal_bytes(dir.path()), 0);
        assert_eq!(
            get(&e, &7u32.to_be_bytes()).as_deref(),
            Some(&b"second"[..])
        );
        assert_eq!(
            get(&e, &9000u32.to_be_bytes()).as_deref(),
            Some(&b"new"[..])
        );
        let n = e
            .read()
            .unwrap()
            .range(
                Space::Rows,
                std::ops::Bound::Unbounded,
                std::ops::Bound::Unbounded,
                false,
            )
            .unwrap()
            .count();
        assert_eq!(n, 501);
    }

    /// A folder whose engine wrote `a`, closed, then wrote `b` (the engine stays usable after
    /// close; that write is only in the journal).
    fn written_after_close() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let e = FjallEngine::open(dir.path()).unwrap();
        put(&e, b"a", b"1");
        e.close().unwrap();
        put(&e, b"b", b"2");
        dir
    }

    #[test]
    fn a_write_after_the_close_keeps_the_journal() {
        let dir = written_after_close();
        assert!(dir.path().join(JOURNAL_OK).is_file());
        let e = FjallEngine::open_existing(dir.path(), true).unwrap();
        assert!(journal_bytes(dir.path()) > 0);
        assert!(!dir.path().join(JOURNAL_OK).exists());
        assert_eq!(get(&e, b"a").as_deref(), Some(&b"1"[..]));
        assert_eq!(get(&e, b"b").as_deref(), Some(&b"2"[..]));
    }

    #[test]
    fn a_damaged_record_is_not_trusted() {
        let dir = written_after_close();
        for garbage in [
            &b"\xff\xfe not text"[..],
            b"",
            b"lazarusdb journal flushed at close\n",
        ] {
            std::fs::write(dir.path().join(JOURNAL_OK), garbage).unwrap();
            let e = FjallEngine::open_existing(dir.path(), true).unwrap();
            assert!(journal_bytes(dir.path()) > 0);
            assert!(!dir.path().join(JOURNAL_OK).exists());
            assert_eq!(get(&e, b"b").as_deref(), Some(&b"2"[..]));
        }
    }
}
