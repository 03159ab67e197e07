//! All consume queues of a store, by topic and queue id (Java's `consumeQueueTable`).
//!
//! Invariants:
//! * At most one [`ConsumeQueue`] per (topic, queueId); it lives in
//!   `<dir>/<topic>/<queueId>/`. Lookups take no lock beyond a DashMap shard read lock held for
//!   the duration of a hash lookup; queues are handed out as `Arc`s.
//! * Operations over all queues work on a snapshot of the queues, never while holding a shard
//!   lock, so a queue's I/O never blocks lookups of other queues.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dashmap::DashMap;
use log::{info, warn};

use super::{ConsumeQueue, CQ_UNIT_SIZE, SCHEDULE_TOPIC};
use crate::store::fs::Fs;
use crate::store::store_config::MessageStoreConfig;

/// The table of consume queues.
pub struct ConsumeQueueTable {
    fs: Fs,
    dir: PathBuf,
    file_size: usize,
    topics: DashMap<String, HashMap<i32, Arc<ConsumeQueue>>>,
}

impl std::fmt::Debug for ConsumeQueueTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumeQueueTable")
            .field("dir", &self.dir)
            .field("file_size", &self.file_size)
            .field("queues", &self.len())
            .finish()
    }
}

/// Keep the first error of a series of operations that all run.
fn keep_first(first: &mut Option<io::Error>, res: io::Result<()>) {
    if let Err(e) = res {
        if first.is_none() {
            *first = Some(e);
        }
    }
}

impl ConsumeQueueTable {
    /// An empty table over `dir` (`<root>/consumequeue`) with files of `file_size` bytes.
    pub fn new(fs: &Fs, dir: &Path, file_size: usize) -> io::Result<Self> {
        if file_size == 0 || !file_size.is_multiple_of(CQ_UNIT_SIZE) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "consume queue file size {file_size} is not a positive multiple of \
                     {CQ_UNIT_SIZE}"
                ),
            ));
        }
        Ok(ConsumeQueueTable {
            fs: fs.clone(),
            dir: dir.to_owned(),
            file_size,
            topics: DashMap::new(),
        })
    }

    /// An empty table at the configured place and file size.
    pub fn from_config(fs: &Fs, config: &MessageStoreConfig) -> io::Result<Self> {
        Self::new(
            fs,
            &config.consume_queue_dir(),
            config.consume_queue_file_size(),
        )
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn file_size(&self) -> usize {
        self.file_size
    }

    /// Load every `<topic>/<queueId>` directory. Entries that are not directories and queue
    /// directories not named by a plain decimal integer are ignored with a warning; a data
    /// file of the wrong size is an error (the store must not start). Called once, at start-up,
    /// before [`ConsumeQueueTable::recover_all`].
    pub fn load(&self) -> io::Result<()> {
        for topic_dir in self.fs.list_dir(&self.dir)? {
            if !topic_dir.is_dir() {
                warn!("ignoring {} (not a topic directory)", topic_dir.display());
                continue;
            }
            let Some(topic) = topic_dir.file_name().and_then(|n| n.to_str()) else {
                warn!("ignoring {} (not a UTF-8 topic name)", topic_dir.display());
                continue;
            };
            for queue_dir in self.fs.list_dir(&topic_dir)? {
                let name = queue_dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
                let queue_id = name.parse::<i32>().ok().filter(|q| q.to_string() == name);
                let Some(queue_id) = queue_id.filter(|_| queue_dir.is_dir()) else {
                    warn!("ignoring {} (not a queue directory)", queue_dir.display());
                    continue;
                };
                let cq = ConsumeQueue::new(&self.fs, &self.dir, topic, queue_id, self.file_size)?;
                cq.load()?;
                info!(
                    "loaded consume queue {topic}-{queue_id} ({} files)",
                    cq.mapped_files().len()
                );
                self.topics
                    .entry(topic.to_owned())
                    .or_default()
                    .insert(queue_id, Arc::new(cq));
            }
        }
        Ok(())
    }

    /// The queue of (topic, queueId), if it exists.
    pub fn get(&self, topic: &str, queue_id: i32) -> Option<Arc<ConsumeQueue>> {
        self.topics.get(topic)?.get(&queue_id).cloned()
    }

    /// The queue of (topic, queueId), created (without files) if it does not exist yet.
    pub fn find_or_create(&self, topic: &str, queue_id: i32) -> io::Result<Arc<ConsumeQueue>> {
        if let Some(cq) = self.get(topic, queue_id) {
            return Ok(cq);
        }
        let cq = Arc::new(ConsumeQueue::new(
            &self.fs,
            &self.dir,
            topic,
            queue_id,
            self.file_size,
        )?);
        let mut queues = self.topics.entry(topic.to_owned()).or_default();
        Ok(Arc::clone(queues.entry(queue_id).or_insert(cq)))
    }

    /// A snapshot of every queue.
    pub fn queues(&self) -> Vec<Arc<ConsumeQueue>> {
        self.topics
            .iter()
            .flat_map(|t| t.value().values().cloned().collect::<Vec<_>>())
            .collect()
    }

    /// The queues of one topic.
    pub fn queues_of(&self, topic: &str) -> Vec<Arc<ConsumeQueue>> {
        self.topics
            .get(topic)
            .map(|t| t.values().cloned().collect())
            .unwrap_or_default()
    }

    pub fn topics(&self) -> Vec<String> {
        self.topics.iter().map(|t| t.key().clone()).collect()
    }

    /// Number of queues.
    pub fn len(&self) -> usize {
        self.topics.iter().map(|t| t.value().len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Recover every queue; returns the max physical offset over all of them (-1 if none:
    /// `maxPhyOffsetOfConsumeQueue`).
    pub fn recover_all(&self) -> io::Result<i64> {
        let mut max = -1;
        for cq in self.queues() {
            max = max.max(cq.recover()?);
        }
        Ok(max)
    }

    /// Max physical offset over all queues (-1 if none).
    pub fn max_physic_offset(&self) -> i64 {
        self.queues()
            .iter()
            .map(|q| q.max_physic_offset())
            .max()
            .unwrap_or(-1)
    }

    /// Truncate every queue to the CommitLog's end `phy_offset`. All queues are tried; the
    /// first error is returned.
    pub fn truncate_all_dirty(&self, phy_offset: i64) -> io::Result<()> {
        let mut first = None;
        for cq in self.queues() {
            keep_first(&mut first, cq.truncate_dirty(phy_offset));
        }
        first.map_or(Ok(()), Err)
    }

    /// `"<topic>-<queueId>"` → max offset of every queue (seeds queue-offset assignment).
    pub fn topic_queue_table(&self) -> HashMap<String, i64> {
        self.queues()
            .iter()
            .map(|q| (format!("{}-{}", q.topic(), q.queue_id()), q.max_offset()))
            .collect()
    }

    /// Correct every queue's min offset against the CommitLog min offset.
    pub fn correct_min_offsets(&self, commit_log_min_offset: i64) {
        for cq in self.queues() {
            cq.correct_min_offset(commit_log_min_offset);
        }
    }

    /// Delete expired files of every queue (see [`ConsumeQueue::delete_expired_files`]);
    /// returns how many files were deleted. All queues are tried; the first error is returned.
    pub fn delete_expired(&self, commit_log_min_offset: i64) -> io::Result<usize> {
        let mut first = None;
        let mut deleted = 0;
        for cq in self.queues() {
            match cq.delete_expired_files(commit_log_min_offset) {
                Ok(n) => deleted += n,
                Err(e) => keep_first(&mut first, Err(e)),
            }
        }
        first.map_or(Ok(deleted), Err)
    }

    /// Flush every queue; true if anything was flushed. All queues are tried; the first error
    /// is returned.
    pub fn flush_all(&self, least_pages: usize) -> io::Result<bool> {
        let mut first = None;
        let mut moved = false;
        for cq in self.queues() {
            match cq.flush(least_pages) {
                Ok(m) => moved |= m,
                Err(e) => keep_first(&mut first, Err(e)),
            }
        }
        first.map_or(Ok(moved), Err)
    }

    /// Destroy every queue and empty the table.
    pub fn destroy_all(&self) -> io::Result<()> {
        let mut first = None;
        for topic in self.topics() {
            keep_first(&mut first, self.remove_topic(&topic).map(|_| ()));
        }
        first.map_or(Ok(()), Err)
    }

    /// Remove a topic: its queues leave the table and their files are deleted. Returns how
    /// many queues it had.
    pub fn remove_topic(&self, topic: &str) -> io::Result<usize> {
        let Some((_, queues)) = self.topics.remove(topic) else {
            return Ok(0);
        };
        let mut first = None;
        for cq in queues.values() {
            info!("destroying consume queue {topic}-{}", cq.queue_id());
            keep_first(&mut first, cq.destroy());
        }
        // Best effort, only succeeds when the directory is empty.
        let _ = std::fs::remove_dir(self.dir.join(topic));
        first.map_or(Ok(queues.len()), Err)
    }

    /// Remove the queues whose every unit points below `commit_log_min_offset` (Java's
    /// `cleanExpiredConsumerQueue`; `SCHEDULE_TOPIC_XXXX` is never touched, nor are queues
    /// without a unit). Returns the removed (topic, queueId)s, whose entries the caller drops
    /// from its queue-offset table.
    pub fn clean_expired_queues(
        &self,
        commit_log_min_offset: i64,
    ) -> io::Result<Vec<(String, i32)>> {
        let mut removed = Vec::new();
        let mut first = None;
        for cq in self.queues() {
            if cq.topic() == SCHEDULE_TOPIC {
                continue;
            }
            let last = cq.last_offset();
            if last == -1 || last >= commit_log_min_offset {
                continue;
            }
            info!(
                "removing expired consume queue {}-{} (last record end {last} < CommitLog \
                 min offset {commit_log_min_offset})",
                cq.topic(),
                cq.queue_id()
            );
            if let Some(mut queues) = self.topics.get_mut(cq.topic()) {
                queues.remove(&cq.queue_id());
            }
            let topic_gone = self
                .topics
                .remove_if(cq.topic(), |_, q| q.is_empty())
                .is_some();
            keep_first(&mut first, cq.destroy());
            if topic_gone {
                let _ = std::fs::remove_dir(self.dir.join(cq.topic()));
            }
            removed.push((cq.topic().to_owned(), cq.queue_id()));
        }
        first.map_or(Ok(removed), Err)
    }
}
