//! The order the pool hands ports out in: shuffled, and under cargo-nextest one shared order
//! per run (it changes with `NEXTEST_RUN_ID`) that each test process enters at its own place.

use crate::env::{Env, NEXTEST_RUN_ID, NEXTEST_TEST_GLOBAL_SLOT};

/// cargo-nextest's `NEXTEST_TEST_GLOBAL_SLOT`: a number unique among the tests running now.
pub(crate) fn nextest_slot(env: Env<'_>) -> Option<u64> {
    env(NEXTEST_TEST_GLOBAL_SLOT)?.to_str()?.trim().parse().ok()
}

/// cargo-nextest's `NEXTEST_RUN_ID`: the same in every process of one run, new each run.
pub(crate) fn nextest_run(env: Env<'_>) -> Option<String> {
    Some(env(NEXTEST_RUN_ID)?.to_string_lossy().trim().to_owned()).filter(|id| !id.is_empty())
}

/// FNV-1a: a hash that is the same in every process (std's `RandomState` is not).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The order the pool hands out its never-used ports in, as ranks into its sorted ports:
/// `index(k)` is the rank of the `k`-th port to try. Without a nextest slot: a fresh random
/// order per process. With one: the same order in every process of the run (`run`, nextest's
/// run id, is mixed into it, so that each run uses another order and a port just freed by the
/// previous run's test is not the first one tried again), each process starting at its own
/// offset spread by the golden ratio, so concurrent tests walk different parts of the pool and
/// rarely contend for a port.
///
/// Nothing is precomputed: the order is a keyed bijection over `0..len` (a Feistel network
/// over the smallest even power of two that holds `len`, cycle-walking back into range),
/// evaluated one position at a time, so a pool of 60,000 ports starts as fast as one of 100.
#[derive(Debug, Clone)]
pub(crate) struct Order {
    len: u64,
    offset: u64,
    /// Bits of each Feistel half; the network permutes `0..1 << (2 * half_bits)`.
    half_bits: u32,
    keys: [u64; ROUNDS],
}

/// Four rounds: enough to scatter neighbours (the pool needs an unpredictable order, not a
/// secure one), few enough to cost nothing in an unoptimised build.
const ROUNDS: usize = 4;

impl Order {
    pub(crate) fn new(len: usize, slot: Option<u64>, run: Option<&str>) -> Order {
        let len = len as u64;
        let seed = match slot {
            Some(_) => len ^ 0x5eed_a110_c0de_0001 ^ run.map_or(0, fnv1a),
            // The clock and this stack's address (randomised per process): no system call,
            // unlike a `RandomState` or the process id.
            None => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64);
                let here = std::ptr::addr_of!(now) as u64;
                splitmix64(&mut (now ^ here.rotate_left(32)))
            }
        };
        let offset = match slot {
            Some(slot) => {
                const GOLDEN: f64 = 0.618_033_988_749_894_9;
                let offset = ((slot as f64 * GOLDEN).fract() * len as f64) as u64;
                offset.min(len.saturating_sub(1))
            }
            None => 0,
        };
        let bits = u64::BITS - len.saturating_sub(1).leading_zeros();
        let mut state = seed;
        let keys = std::array::from_fn(|_| splitmix64(&mut state));
        Order {
            len,
            offset,
            half_bits: bits.div_ceil(2).max(1),
            keys,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len as usize
    }

    /// The rank of the `k`-th port in this order; `k` must be below [`len`](Self::len).
    pub(crate) fn index(&self, k: usize) -> usize {
        let mut x = (self.offset + k as u64) % self.len;
        // Cycle walking: the network permutes a domain up to 4x `len`, so following it until
        // it lands below `len` is a permutation of `0..len`, in about two steps on average.
        loop {
            x = self.feistel(x);
            if x < self.len {
                return x as usize;
            }
        }
    }

    /// Where the port of rank `rank` comes in this order: the `k` with `index(k) == rank`.
    /// `rank` must be below [`len`](Self::len).
    pub(crate) fn position(&self, rank: usize) -> usize {
        // The inverse permutation, walked the same way back into range.
        let mut x = rank as u64;
        loop {
            x = self.feistel_inverse(x);
            if x < self.len {
                break;
            }
        }
        ((x + self.len - self.offset) % self.len) as usize
    }

    fn round(&self, key: u64, half: u64, mask: u64) -> u64 {
        // The round function: a murmur3-style finaliser of the half and the round's key,
        // whose high bits depend on every input bit.
        let mut z = half.wrapping_add(key);
        z = (z ^ (z >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
        z = (z ^ (z >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        (z >> 40) & mask
    }

    fn feistel_inverse(&self, x: u64) -> u64 {
        let mask = (1u64 << self.half_bits) - 1;
        let (mut left, mut right) = (x >> self.half_bits, x & mask);
        for &key in self.keys.iter().rev() {
            (left, right) = (right ^ self.round(key, left, mask), left);
        }
        (left << self.half_bits) | right
    }

    fn feistel(&self, x: u64) -> u64 {
        let mask = (1u64 << self.half_bits) - 1;
        let (mut left, mut right) = (x >> self.half_bits, x & mask);
        for key in self.keys {
            (left, right) = (right, left ^ self.round(key, right, mask));
        }
        (left << self.half_bits) | right
    }
}

/// splitmix64: one step of the key schedule.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env;

    /// The whole order of a pool of `len`, as ranks.
    fn arranged(len: usize, slot: Option<u64>) -> Vec<usize> {
        let order = Order::new(len, slot, Some("run-a"));
        (0..order.len()).map(|k| order.index(k)).collect()
    }

    fn sorted(mut v: Vec<usize>) -> Vec<usize> {
        v.sort_unstable();
        v
    }

    #[test]
    fn order_is_a_permutation_and_shuffled() {
        for len in [1, 2, 3, 5, 64, 100, 1000, 1001, 36263, 65535] {
            let ranks = arranged(len, None);
            assert_eq!(
                sorted(ranks.clone()),
                (0..len).collect::<Vec<_>>(),
                "len {len}"
            );
            if len >= 100 {
                assert_ne!(ranks, (0..len).collect::<Vec<_>>());
                // Shuffled, not a rotation or a stride: neighbours in the order are rarely
                // neighbours in the pool (about 2 pairs in a random order, `len - 1` sorted).
                let adjacent = ranks
                    .windows(2)
                    .filter(|w| w[0].abs_diff(w[1]) == 1)
                    .count();
                assert!(
                    adjacent < 20 + len / 100,
                    "len {len}: {adjacent} adjacent steps"
                );
            }
        }
    }

    #[test]
    fn processes_without_a_slot_get_different_orders() {
        // Each process keys its order afresh; two keys agreeing on the first 8 of 1000 ranks
        // would be a broken key schedule, not chance.
        let a = Order::new(1000, None, None);
        let mut b = Order::new(1000, None, None);
        b.keys[0] ^= 1;
        let first = |o: &Order| (0..8).map(|k| o.index(k)).collect::<Vec<_>>();
        assert_ne!(first(&a), first(&b));
    }

    #[test]
    fn slots_start_at_different_places_of_one_order() {
        let arranged: Vec<Vec<usize>> = (0..8).map(|slot| arranged(1000, Some(slot))).collect();
        let firsts: std::collections::BTreeSet<usize> = arranged.iter().map(|p| p[0]).collect();
        assert_eq!(firsts.len(), 8);
        for ranks in &arranged {
            assert_eq!(sorted(ranks.clone()), (0..1000).collect::<Vec<_>>());
        }
        // The same cyclic order: slot 1's sequence is slot 0's, rotated.
        let pos = arranged[0]
            .iter()
            .position(|&p| p == arranged[1][0])
            .unwrap();
        let mut rotated = arranged[0].clone();
        rotated.rotate_left(pos);
        assert_eq!(rotated, arranged[1]);
    }

    #[test]
    fn the_slot_comes_from_nextest_s_variable() {
        let env = env::fake(&[(NEXTEST_TEST_GLOBAL_SLOT, " 7 ")]);
        assert_eq!(nextest_slot(&env), Some(7));
        assert_eq!(nextest_slot(&env::fake(&[])), None);
        let garbage = env::fake(&[(NEXTEST_TEST_GLOBAL_SLOT, "x")]);
        assert_eq!(nextest_slot(&garbage), None);
    }

    #[test]
    fn position_inverts_index() {
        for (len, slot) in [(1, None), (7, Some(2)), (1000, None), (36263, Some(5))] {
            let order = Order::new(len, slot, Some("run-a"));
            for k in (0..len).step_by(len / 97 + 1) {
                assert_eq!(order.position(order.index(k)), k, "len {len}, k {k}");
            }
        }
    }

    #[test]
    fn each_nextest_run_has_its_own_order_shared_by_its_processes() {
        let first = |slot, run| {
            let order = Order::new(1000, Some(slot), run);
            (0..16).map(|k| order.index(k)).collect::<Vec<_>>()
        };
        let run_a = "0b2f2a3e-1111-4c1e-9a7e-000000000001";
        let run_b = "0b2f2a3e-1111-4c1e-9a7e-000000000002";
        assert_eq!(first(0, Some(run_a)), first(0, Some(run_a)));
        assert_ne!(first(0, Some(run_a)), first(0, Some(run_b)));
        assert_ne!(first(0, Some(run_a))[0], first(0, Some(run_b))[0]);
        assert_ne!(first(0, None), first(0, Some(run_a)));
        let env = env::fake(&[(NEXTEST_RUN_ID, run_a)]);
        assert_eq!(nextest_run(&env).as_deref(), Some(run_a));
        assert_eq!(nextest_run(&env::fake(&[(NEXTEST_RUN_ID, " ")])), None);
    }

    #[test]
    fn single_port_pool_arranges() {
        assert_eq!(arranged(1, Some(3)), vec![0]);
        assert_eq!(arranged(1, None), vec![0]);
    }
}
