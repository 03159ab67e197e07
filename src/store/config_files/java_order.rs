//! Java's `ConcurrentHashMap` iteration order, so that the tables we write come out in the
//! order the Java broker writes them.
//!
//! fastjson writes a map by iterating it, and every table of the config files is a
//! `ConcurrentHashMap` (CHM). Its iteration order is the order of its bins (bin index =
//! `spread(hashCode) & (capacity - 1)`), and inside a bin the order of the bin's node list.
//! Both depend on the history of the map: its initial capacity, every resize (which splits
//! each bin in a particular way), and the insertion order of keys sharing a bin.
//!
//! [`ChmOrder`] replays that history exactly as JDK 17's `ConcurrentHashMap` does for a
//! single thread:
//!
//! * constructors: `new ConcurrentHashMap()` (table of 16 created on first insert),
//!   `new ConcurrentHashMap(n)` (capacity `tableSizeFor(1 + n / 0.75)`), and the copy
//!   constructor `new ConcurrentHashMap(map)`;
//! * `put` appends a new key to its bin's list (a tree bin gets it at the *front* of its
//!   node list); a list that reaches 8 nodes is treeified when the table has ≥ 64 bins, else
//!   the table is grown instead (`treeifyBin` → `tryPresize`);
//! * the table doubles when the count reaches `sizeCtl` (¾ of the capacity); `transfer`
//!   splits every list bin with the "lastRun" rule (the nodes before the last run of equal
//!   split bits end up *reversed*), tree bins keep their order and become lists when 6 or
//!   fewer nodes remain;
//! * `putAll` presizes first (`tryPresize(m.size())`), which may double an empty table
//!   twice;
//! * `remove` unlinks the node. The map never shrinks.
//!
//! One approximation: when a node is removed from a tree bin, Java turns the bin back into a
//! list depending on the red-black tree's shape; we do it when 6 or fewer nodes remain. That
//! only matters with 8 or more keys in one bin of a table of 64 or more bins.
//!
//! [`JavaMap`] pairs the order with the values.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

use apogee_codec::message::java_string_hash;

const MAXIMUM_CAPACITY: usize = 1 << 30;
const DEFAULT_CAPACITY: usize = 16;
const TREEIFY_THRESHOLD: usize = 8;
const UNTREEIFY_THRESHOLD: usize = 6;
const MIN_TREEIFY_CAPACITY: usize = 64;

/// A key with Java's `hashCode()`.
pub trait JavaHash {
    fn java_hash(&self) -> i32;
}

impl JavaHash for String {
    fn java_hash(&self) -> i32 {
        java_string_hash(self)
    }
}

impl JavaHash for i32 {
    /// `Integer.hashCode()` is the value.
    fn java_hash(&self) -> i32 {
        *self
    }
}

/// CHM's `spread`: `(h ^ (h >>> 16)) & HASH_BITS`.
fn spread(h: i32) -> usize {
    let h = h as u32;
    ((h ^ (h >> 16)) & 0x7fff_ffff) as usize
}

/// Java's `tableSizeFor`: the smallest power of two ≥ `c` (at least 1), capped.
fn table_size_for(c: usize) -> usize {
    c.max(1).next_power_of_two().min(MAXIMUM_CAPACITY)
}

#[derive(Debug, Clone)]
struct Bin<K> {
    /// (spread hash, key) in the bin's node-list order.
    nodes: Vec<(usize, K)>,
    /// A `TreeBin` (new keys go to the front of its node list).
    tree: bool,
}

/// The iteration order of a Java `ConcurrentHashMap` (see the module docs).
#[derive(Debug, Clone)]
pub struct ChmOrder<K> {
    /// Table length; 0 until the table is created.
    capacity: usize,
    /// Before the table exists: its initial length (0 = default). After: the resize threshold.
    size_ctl: usize,
    /// Non-empty bins by index.
    bins: BTreeMap<usize, Bin<K>>,
    count: usize,
}

impl<K: JavaHash + Eq + Clone> Default for ChmOrder<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: JavaHash + Eq + Clone> ChmOrder<K> {
    /// `new ConcurrentHashMap<>()`.
    pub fn new() -> Self {
        ChmOrder {
            capacity: 0,
            size_ctl: 0,
            bins: BTreeMap::new(),
            count: 0,
        }
    }

    /// `new ConcurrentHashMap<>(initial_capacity)` (JDK 11+ sizing:
    /// `tableSizeFor((long)(1.0 + initialCapacity / 0.75f))`).
    pub fn with_initial_capacity(initial_capacity: usize) -> Self {
        let size = (1.0 + initial_capacity as f64 / 0.75) as usize;
        ChmOrder {
            capacity: 0,
            size_ctl: table_size_for(size),
            bins: BTreeMap::new(),
            count: 0,
        }
    }

    /// `new ConcurrentHashMap<>(other)`: `sizeCtl = 16`, then `putAll(other)`.
    pub fn copy_of(other: &ChmOrder<K>) -> Self {
        let mut m = ChmOrder {
            capacity: 0,
            size_ctl: DEFAULT_CAPACITY,
            bins: BTreeMap::new(),
            count: 0,
        };
        m.put_all(other.iter().cloned().collect::<Vec<_>>());
        m
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Current table length (0 before the first insert).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Keys in Java's iteration order.
    pub fn iter(&self) -> impl Iterator<Item = &K> + '_ {
        self.bins
            .values()
            .flat_map(|b| b.nodes.iter().map(|(_, k)| k))
    }

    fn init_table(&mut self) {
        let n = if self.size_ctl > 0 {
            self.size_ctl
        } else {
            DEFAULT_CAPACITY
        };
        self.capacity = n;
        self.size_ctl = n - (n >> 2);
    }

    /// `put(key, …)` (or `putIfAbsent`): returns whether the key is new.
    pub fn insert(&mut self, key: K) -> bool {
        if self.capacity == 0 {
            self.init_table();
        }
        let h = spread(key.java_hash());
        let i = h & (self.capacity - 1);
        let bin = self.bins.entry(i).or_insert_with(|| Bin {
            nodes: Vec::new(),
            tree: false,
        });
        let (bin_count, is_new) = if bin.nodes.is_empty() {
            bin.nodes.push((h, key));
            (0, true)
        } else if bin.tree {
            if bin.nodes.iter().any(|(_, k)| *k == key) {
                (2, false)
            } else {
                bin.nodes.insert(0, (h, key));
                (2, true)
            }
        } else {
            match bin.nodes.iter().position(|(_, k)| *k == key) {
                Some(p) => (p + 1, false),
                None => {
                    let n = bin.nodes.len();
                    bin.nodes.push((h, key));
                    (n, true)
                }
            }
        };
        if bin_count >= TREEIFY_THRESHOLD {
            self.treeify_bin(i);
        }
        if !is_new {
            return false;
        }
        self.count += 1;
        while self.count >= self.size_ctl && self.capacity < MAXIMUM_CAPACITY {
            self.transfer();
        }
        true
    }

    /// `putAll(m)`: presize for `keys.len()`, then insert in the given order.
    pub fn put_all(&mut self, keys: Vec<K>) {
        self.try_presize(keys.len());
        for k in keys {
            self.insert(k);
        }
    }

    /// `remove(key)`: returns whether it was present.
    pub fn remove(&mut self, key: &K) -> bool {
        if self.capacity == 0 {
            return false;
        }
        let i = spread(key.java_hash()) & (self.capacity - 1);
        let Some(bin) = self.bins.get_mut(&i) else {
            return false;
        };
        let Some(p) = bin.nodes.iter().position(|(_, k)| k == key) else {
            return false;
        };
        bin.nodes.remove(p);
        if bin.nodes.is_empty() {
            self.bins.remove(&i);
        } else if bin.tree && bin.nodes.len() <= UNTREEIFY_THRESHOLD {
            bin.tree = false;
        }
        self.count -= 1;
        true
    }

    fn treeify_bin(&mut self, i: usize) {
        if self.capacity < MIN_TREEIFY_CAPACITY {
            self.try_presize(self.capacity << 1);
        } else if let Some(bin) = self.bins.get_mut(&i) {
            bin.tree = true;
        }
    }

    fn try_presize(&mut self, size: usize) {
        let c = if size >= (MAXIMUM_CAPACITY >> 1) {
            MAXIMUM_CAPACITY
        } else {
            table_size_for(size + (size >> 1) + 1)
        };
        loop {
            if self.capacity == 0 {
                let n = self.size_ctl.max(c);
                self.capacity = n;
                self.size_ctl = n - (n >> 2);
            } else if c <= self.size_ctl || self.capacity >= MAXIMUM_CAPACITY {
                break;
            } else {
                self.transfer();
            }
        }
    }

    /// Double the table, splitting every bin as `ConcurrentHashMap.transfer` does.
    fn transfer(&mut self) {
        let n = self.capacity;
        let old = std::mem::take(&mut self.bins);
        for (i, bin) in old {
            let (lo, hi, lo_tree, hi_tree) = if bin.tree {
                let (lo, hi): (Vec<_>, Vec<_>) =
                    bin.nodes.into_iter().partition(|(h, _)| h & n == 0);
                let lt = lo.len() > UNTREEIFY_THRESHOLD;
                let ht = hi.len() > UNTREEIFY_THRESHOLD;
                (lo, hi, lt, ht)
            } else {
                let nodes = bin.nodes;
                let mut run_bit = nodes.first().map_or(0, |(h, _)| h & n);
                let mut last_run = 0;
                for (p, (h, _)) in nodes.iter().enumerate().skip(1) {
                    let b = h & n;
                    if b != run_bit {
                        run_bit = b;
                        last_run = p;
                    }
                }
                let mut lo = Vec::new();
                let mut hi = Vec::new();
                // Nodes before lastRun are prepended one by one: reversed.
                for node in nodes[..last_run].iter().rev() {
                    if node.0 & n == 0 {
                        lo.push(node.clone());
                    } else {
                        hi.push(node.clone());
                    }
                }
                // lastRun and everything after it keep their order, at the end of their list.
                let tail = nodes[last_run..].iter().cloned();
                if run_bit == 0 {
                    lo.extend(tail);
                } else {
                    hi.extend(tail);
                }
                (lo, hi, false, false)
            };
            if !lo.is_empty() {
                self.bins.insert(
                    i,
                    Bin {
                        nodes: lo,
                        tree: lo_tree,
                    },
                );
            }
            if !hi.is_empty() {
                self.bins.insert(
                    i + n,
                    Bin {
                        nodes: hi,
                        tree: hi_tree,
                    },
                );
            }
        }
        self.capacity = n << 1;
        self.size_ctl = (n << 1) - (n >> 1);
    }
}

/// A map whose iteration order is that of a Java `ConcurrentHashMap` with the same history.
#[derive(Debug, Clone)]
pub struct JavaMap<K, V> {
    order: ChmOrder<K>,
    values: HashMap<K, V>,
}

impl<K: JavaHash + Eq + Hash + Clone, V> Default for JavaMap<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: JavaHash + Eq + Hash + Clone, V> JavaMap<K, V> {
    /// `new ConcurrentHashMap<>()`.
    pub fn new() -> Self {
        JavaMap {
            order: ChmOrder::new(),
            values: HashMap::new(),
        }
    }

    /// `new ConcurrentHashMap<>(initial_capacity)`.
    pub fn with_initial_capacity(initial_capacity: usize) -> Self {
        JavaMap {
            order: ChmOrder::with_initial_capacity(initial_capacity),
            values: HashMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        self.values.get(key)
    }

    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.values.get_mut(key)
    }

    pub fn contains_key(&self, key: &K) -> bool {
        self.values.contains_key(key)
    }

    /// `put`: returns the previous value.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.order.insert(key.clone());
        self.values.insert(key, value)
    }

    /// `putAll` of entries in the given order.
    pub fn put_all(&mut self, entries: Vec<(K, V)>) {
        self.order.try_presize(entries.len());
        for (k, v) in entries {
            self.insert(k, v);
        }
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.order.remove(key);
        self.values.remove(key)
    }

    /// Entries in Java's iteration order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> + '_ {
        self.order
            .iter()
            .filter_map(|k| self.values.get(k).map(|v| (k, v)))
    }

    /// Keys in Java's iteration order.
    pub fn keys(&self) -> impl Iterator<Item = &K> + '_ {
        self.order.iter()
    }

    /// Entries in Java's iteration order, cloned.
    pub fn to_vec(&self) -> Vec<(K, V)>
    where
        V: Clone,
    {
        self.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

impl<K: JavaHash + Eq + Hash + Clone, V: Clone> JavaMap<K, V> {
    /// `new ConcurrentHashMap<>(other)`.
    pub fn copy_of(other: &JavaMap<K, V>) -> Self {
        let mut m = JavaMap {
            order: ChmOrder {
                capacity: 0,
                size_ctl: DEFAULT_CAPACITY,
                bins: BTreeMap::new(),
                count: 0,
            },
            values: HashMap::new(),
        };
        m.put_all(other.to_vec());
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order<K: JavaHash + Eq + Clone>(m: &ChmOrder<K>) -> Vec<K> {
        m.iter().cloned().collect()
    }

    #[test]
    fn sizing_matches_java() {
        let mut m: ChmOrder<i32> = ChmOrder::with_initial_capacity(1024);
        m.insert(1);
        assert_eq!(m.capacity(), 2048);
        let mut m: ChmOrder<i32> = ChmOrder::with_initial_capacity(512);
        m.insert(1);
        assert_eq!(m.capacity(), 1024);
        let mut m: ChmOrder<i32> = ChmOrder::with_initial_capacity(32);
        m.insert(1);
        assert_eq!(m.capacity(), 64);
        let mut m: ChmOrder<i32> = ChmOrder::new();
        assert_eq!(m.capacity(), 0);
        for i in 0..11 {
            m.insert(i);
        }
        assert_eq!(m.capacity(), 16);
        m.insert(11); // the 12th key reaches sizeCtl = 12
        assert_eq!(m.capacity(), 32);
        // putAll into an empty default map presizes (and then doubles once more)
        let mut m: ChmOrder<i32> = ChmOrder::new();
        m.put_all((0..20).collect());
        assert_eq!(m.capacity(), 64);
    }

    #[test]
    fn small_integers_iterate_ascending() {
        let mut m = ChmOrder::with_initial_capacity(32);
        for i in [5, 3, 17, 0, 1] {
            m.insert(i);
        }
        assert_eq!(order(&m), vec![0, 1, 3, 5, 17]);
        assert!(m.remove(&3));
        assert!(!m.remove(&3));
        assert_eq!(order(&m), vec![0, 1, 5, 17]);
        assert_eq!(m.len(), 4);
    }

    #[test]
    fn same_bin_keeps_insertion_order_and_resize_reverses_prefix() {
        // 16 bins: 1, 17, 33, 49 all land in bin 1.
        let mut m = ChmOrder::new();
        for k in [49, 1, 33, 17] {
            m.insert(k);
        }
        assert_eq!(order(&m), vec![49, 1, 33, 17]);
        // grow to 32: bit 16 splits {1,33} (lo, bin 1) from {49,17} (hi, bin 17).
        // lastRun = 17 (the last change of bit); 49, 1, 33 are prepended: lo = [33, 1],
        // hi = [49, 17].
        for k in 100..108 {
            m.insert(k);
        }
        assert_eq!(m.capacity(), 32);
        let o = order(&m);
        let pos = |k| o.iter().position(|x| *x == k).unwrap();
        assert!(pos(33) < pos(1));
        assert!(pos(49) < pos(17));
    }

    /// Iteration orders produced by JDK 17 (`testdata/chm_gold.txt`).
    fn gold(name: &str) -> Vec<String> {
        let text = include_str!("testdata/chm_gold.txt");
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap();
        line.split(',').map(str::to_owned).collect()
    }

    fn strings(m: &ChmOrder<String>) -> Vec<String> {
        order(m)
    }

    fn ints(m: &ChmOrder<i32>) -> Vec<String> {
        m.iter().map(|k| k.to_string()).collect()
    }

    #[test]
    fn matches_jdk17_orders() {
        let mut m1 = ChmOrder::new();
        for i in 0..200 {
            m1.insert(format!("k{i}"));
        }
        for i in (0..200).step_by(7) {
            m1.remove(&format!("k{i}"));
        }
        for i in (0..200).step_by(14) {
            m1.insert(format!("k{i}"));
        }
        assert_eq!(strings(&m1), gold("s1"));

        let mut m2 = ChmOrder::with_initial_capacity(1024);
        for i in 0..300 {
            m2.insert(format!("%RETRY%Group{i}"));
        }
        assert_eq!(strings(&m2), gold("s2"));

        let mut m3 = ChmOrder::with_initial_capacity(32);
        for i in 0..12 {
            m3.insert(i * 64);
        }
        m3.insert(5);
        assert_eq!(ints(&m3), gold("s3"));

        let mut m4 = ChmOrder::new();
        for i in 0..10 {
            m4.insert(i * 16);
        }
        assert_eq!(ints(&m4), gold("s4"));

        let src: Vec<String> = (0..40)
            .map(|i| format!("T{}@G{}", i * 37 % 101, i % 5))
            .collect();
        let mut m5 = ChmOrder::new();
        m5.put_all(src);
        assert_eq!(strings(&m5), gold("s5"));
        assert_eq!(strings(&ChmOrder::copy_of(&m5)), gold("s6"));

        let mut m7 = ChmOrder::new();
        let mut x: i32 = 12345;
        for _ in 0..100 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            m7.insert(x >> 3);
        }
        assert_eq!(ints(&m7), gold("s7"));

        let mut m8 = ChmOrder::with_initial_capacity(32);
        for i in 0..10 {
            m8.insert(i * 64);
        }
        m8.remove(&128);
        m8.insert(128);
        for i in 1..60 {
            m8.insert(i);
        }
        assert_eq!(ints(&m8), gold("s8"));
    }
}
