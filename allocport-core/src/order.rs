//! The order the pool hands ports out in: shuffled, and under cargo-nextest one shared order
//! per run (it changes with `NEXTEST_RUN_ID`) that each test process enters at its own place.

use std::hash::{BuildHasher, RandomState};

use crate::env::{Env, NEXTEST_RUN_ID, NEXTEST_TEST_GLOBAL_SLOT};

/// cargo-nextest's `NEXTEST_TEST_GLOBAL_SLOT`: a number unique among the tests running now.
pub(crate) fn nextest_slot(env: Env<'_>) -> Option<u64> {
    env(NEXTEST_TEST_GLOBAL_SLOT)?.to_str()?.trim().parse().ok()
}

/// cargo-nextest's `NEXTEST_RUN_ID`: the same in every process of one run, new each run.
pub(crate) fn nextest_run(env: Env<'_>) -> Option<String> {
    Some(env(NEXTEST_RUN_ID)?.to_string_lossy().trim().to_owned()).filter(|id| !id.is_empty())
}

/// Puts the ports in allocation order. Without a nextest slot: a fresh random shuffle per
/// process. With one: the same shuffle in every process of the run (`run`, nextest's run id,
/// is mixed into it, so that each run uses another order and a port just freed by the
/// previous run's test is not the first one tried again), each process starting at its own
/// offset spread by the golden ratio, so concurrent tests walk different parts of the pool and
/// rarely contend for a port.
pub(crate) fn arrange(ports: &mut [u16], slot: Option<u64>, run: Option<&str>) {
    let seed = match slot {
        Some(_) => ports.len() as u64 ^ 0x5eed_a110_c0de_0001 ^ run.map_or(0, fnv1a),
        None => RandomState::new().hash_one(std::process::id()),
    };
    shuffle(ports, seed);
    if let Some(slot) = slot {
        const GOLDEN: f64 = 0.618_033_988_749_894_9;
        let offset = ((slot as f64 * GOLDEN).fract() * ports.len() as f64) as usize;
        ports.rotate_left(offset.min(ports.len().saturating_sub(1)));
    }
}

/// FNV-1a: a hash that is the same in every process (std's `RandomState` is not).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Fisher-Yates with splitmix64: the pool needs an unpredictable order, not a secure one.
fn shuffle(ports: &mut [u16], seed: u64) {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    for i in (1..ports.len()).rev() {
        // Multiply-shift instead of `%`: no division, and no modulo bias.
        let j = ((u128::from(next()) * (i as u128 + 1)) >> 64) as usize;
        ports.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env;

    fn sorted(mut v: Vec<u16>) -> Vec<u16> {
        v.sort_unstable();
        v
    }

    #[test]
    fn shuffle_is_a_permutation_and_moves_ports() {
        let original: Vec<u16> = (1000..2000).collect();
        let mut ports = original.clone();
        shuffle(&mut ports, 42);
        assert_ne!(ports, original);
        assert_eq!(sorted(ports), original);
    }

    #[test]
    fn slots_start_at_different_places_of_one_order() {
        let original: Vec<u16> = (1000..2000).collect();
        let arranged: Vec<Vec<u16>> = (0..8)
            .map(|slot| {
                let mut ports = original.clone();
                arrange(&mut ports, Some(slot), Some("run-a"));
                ports
            })
            .collect();
        let firsts: std::collections::BTreeSet<u16> = arranged.iter().map(|p| p[0]).collect();
        assert_eq!(firsts.len(), 8);
        for ports in &arranged {
            assert_eq!(sorted(ports.clone()), original);
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
    fn each_nextest_run_has_its_own_order_shared_by_its_processes() {
        let arranged = |slot, run| {
            let mut ports: Vec<u16> = (1000..2000).collect();
            arrange(&mut ports, Some(slot), run);
            ports
        };
        let run_a = "0b2f2a3e-1111-4c1e-9a7e-000000000001";
        let run_b = "0b2f2a3e-1111-4c1e-9a7e-000000000002";
        assert_eq!(arranged(0, Some(run_a)), arranged(0, Some(run_a)));
        assert_ne!(arranged(0, Some(run_a)), arranged(0, Some(run_b)));
        assert_ne!(arranged(0, Some(run_a))[0], arranged(0, Some(run_b))[0]);
        assert_ne!(arranged(0, None), arranged(0, Some(run_a)));
        let env = env::fake(&[(NEXTEST_RUN_ID, run_a)]);
        assert_eq!(nextest_run(&env).as_deref(), Some(run_a));
        assert_eq!(nextest_run(&env::fake(&[(NEXTEST_RUN_ID, " ")])), None);
    }

    #[test]
    fn single_port_pool_arranges() {
        let mut ports = vec![5000];
        arrange(&mut ports, Some(3), None);
        arrange(&mut ports, None, None);
        assert_eq!(ports, vec![5000]);
    }
}
