//! Every runtime limit, tripped by a hostile guest, while a well-behaved plugin keeps serving.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use chitin_manifest::Grant;
use chitin_sandbox::InstanceMode;
use serde_json::json;

use crate::common::{TestHost, assert_code, call, grant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infinite_loop_runs_out_of_fuel() {
    let host = TestHost::new();
    let hostile = host.load("hostile", &Grant::default());
    let err = assert_code(&call(&hostile, "spin", json!({})).await, "out_of_fuel");
    assert!(err.contains("ran out of fuel (budget 200000000"), "{err}");
    assert!(
        err.contains("budgets.fuel"),
        "the error names the knob: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infinite_loop_with_ample_fuel_hits_the_deadline() {
    let host = TestHost::new();
    let hostile = host.load(
        "hostile",
        &grant("[budgets]\nfuel = 40_000_000_000\ntimeout_ms = 300\n"),
    );
    let started = Instant::now();
    let err = assert_code(
        &call(&hostile, "spin", json!({})).await,
        "deadline_exceeded",
    );
    assert!(err.contains("time limit of 300ms"), "{err}");
    let elapsed = started.elapsed();
    // Functional bound, not a benchmark: the call ends near its deadline, not at some far
    // fallback (fuel for 40e9 instructions would take many seconds).
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_bomb_hits_the_memory_limit() {
    let host = TestHost::new();
    let hostile = host.load("hostile", &Grant::default());
    let err = assert_code(&call(&hostile, "allocate", json!({})).await, "memory_limit");
    assert!(err.contains("memory limit of 32 MiB"), "{err}");
    assert!(err.contains("budgets.memory_mb"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runaway_recursion_overflows_the_stack() {
    let host = TestHost::new();
    let hostile = host.load("hostile", &Grant::default());
    let err = assert_code(
        &call(&hostile, "recurse", json!({})).await,
        "stack_overflow",
    );
    assert!(err.contains("overflowed its stack"), "{err}");
    // Large frames overflow the guest's own shadow stack in linear memory first: a memory
    // fault inside its sandbox, contained like any other trap.
    let err = assert_code(&call(&hostile, "recurse_shadow", json!({})).await, "trap");
    assert!(err.contains("out-of-bounds memory access"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn giant_output_is_refused() {
    let host = TestHost::new();
    let hostile = host.load("hostile", &Grant::default());
    let err = assert_code(
        &call(&hostile, "giant_output", json!({ "bytes": 2 << 20 })).await,
        "output_too_large",
    );
    assert!(
        err.contains("returned 2097152 bytes, over its output limit of 1048576"),
        "{err}"
    );
    // Under the limit is fine.
    let out = call(&hostile, "giant_output", json!({ "bytes": 1000 }))
        .await
        .unwrap();
    assert_eq!(out.len(), 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_call_flood_is_stopped() {
    let host = TestHost::new();
    let hostile = host.load("hostile", &Grant::default());
    let err = assert_code(
        &call(&hostile, "flood_host", json!({ "count": 0 })).await,
        "host_call_limit",
    );
    assert!(err.contains("more than 10000 host calls"), "{err}");
    // A bounded number of calls within the budget succeeds.
    let out = call(&hostile, "flood_host", json!({ "count": 500 }))
        .await
        .unwrap();
    assert_eq!(out, "made 500 host calls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_flood_is_rate_limited_without_failing_the_call() {
    let host = TestHost::new();
    let hostile = host.load("hostile", &Grant::default());
    let out = call(&hostile, "flood_log", json!({ "count": 5000 }))
        .await
        .unwrap();
    assert_eq!(out, "logged 5000 lines");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panic_is_reported_with_its_message() {
    let host = TestHost::new();
    let hostile = host.load("hostile", &Grant::default());
    let err = assert_code(&call(&hostile, "panic", json!({})).await, "guest_panic");
    assert!(err.contains("hostile plugin panicked on purpose"), "{err}");
}

/// Every attack at once, while the echo plugin is called in a loop: each attack ends with its
/// own error and echo never fails or stalls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn well_behaved_plugin_keeps_answering_during_attacks() {
    let host = TestHost::new();
    let hostile = Arc::new(host.load(
        "hostile",
        &grant("[budgets]\nfuel = 40_000_000_000\ntimeout_ms = 1500\n"),
    ));
    let echo = Arc::new(host.load("echo", &Grant::default()));
    let done = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU32::new(0));

    let echo_loop = {
        let (echo, done, answered) = (echo.clone(), done.clone(), answered.clone());
        tokio::spawn(async move {
            let mut slowest = Duration::ZERO;
            while !done.load(Ordering::Relaxed) {
                let started = Instant::now();
                let out = call(&echo, "echo", json!({ "text": "still here" })).await;
                assert_eq!(out.unwrap(), "still here");
                slowest = slowest.max(started.elapsed());
                answered.fetch_add(1, Ordering::Relaxed);
                tokio::task::yield_now().await;
            }
            slowest
        })
    };

    let attacks = [
        ("spin", json!({}), "deadline_exceeded"),
        ("allocate", json!({}), "memory_limit"),
        ("recurse", json!({}), "stack_overflow"),
        (
            "giant_output",
            json!({ "bytes": 4 << 20 }),
            "output_too_large",
        ),
        ("flood_host", json!({ "count": 0 }), "host_call_limit"),
        ("panic", json!({}), "guest_panic"),
        (
            "fetch",
            json!({ "url": "http://169.254.169.254/latest/meta-data/" }),
            "capability_denied",
        ),
    ];
    let mut handles = Vec::new();
    for (tool, args, code) in attacks {
        let hostile = hostile.clone();
        handles.push(tokio::spawn(async move {
            let result = call(&hostile, tool, args).await;
            (tool, code, result)
        }));
    }
    for handle in handles {
        let (tool, code, result) = handle.await.unwrap();
        match result {
            Err(err) => assert_eq!(err.code(), code, "{tool}: {err}"),
            Ok(out) => panic!("{tool} should have failed with {code}, returned {out}"),
        }
    }
    done.store(true, Ordering::Relaxed);
    let slowest = echo_loop.await.unwrap();
    let answered = answered.load(Ordering::Relaxed);
    assert!(
        answered > 10,
        "echo answered only {answered} times during the attacks"
    );
    // Generous: a spinning guest yields every epoch tick (10 ms), so echo is never starved for
    // the length of an attack (1.5 s).
    assert!(
        slowest < Duration::from_millis(1000),
        "an echo call took {slowest:?}"
    );
}

/// A trapped instance is dropped; the next call gets a healthy one. With warm instances the
/// budgets are re-armed before every call, so an instance idle for longer than its time
/// budget still gets its full budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_instances_are_rearmed_and_dropped_after_a_trap() {
    let host = TestHost::new();
    let mut hostile = host.load("hostile", &grant("[budgets]\ntimeout_ms = 300\n"));
    hostile.set_instance_mode(InstanceMode::Warm);

    assert_eq!(
        call(&hostile, "config_get", json!({ "text": "x" }))
            .await
            .unwrap(),
        "<unset>"
    );
    assert_eq!(
        hostile.warm_instances(),
        1,
        "a healthy instance goes back to the pool"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        call(&hostile, "config_get", json!({ "text": "x" }))
            .await
            .unwrap(),
        "<unset>",
        "a deadline armed long ago must not fire in a later call"
    );

    assert_code(&call(&hostile, "panic", json!({})).await, "guest_panic");
    assert_eq!(
        hostile.warm_instances(),
        0,
        "the trapped instance was dropped"
    );
    assert_eq!(
        call(&hostile, "config_get", json!({ "text": "x" }))
            .await
            .unwrap(),
        "<unset>"
    );
}
