using OnnxLm.Engine.Cache.Remote;

namespace OnnxLm.Tests.Cache.Remote;

/// <summary><see cref="RemoteFetchPolicy"/>: fetch while unmeasured; then fetch exactly when bytes ÷ bandwidth + round
/// trip is below tokens ÷ prefill rate, from the measured replies and prefill runs.</summary>
public class RemoteFetchPolicyTests
{
    [Test]
    public async Task Unmeasured_it_fetches_and_measured_it_compares_transfer_with_recompute()
    {
        var p = new RemoteFetchPolicy();
        await Assert.That(p.ShouldFetch(10, 400_000, 16)).IsTrue();
        p.ObserveReply(16, 0.0005);             // a miss: the round trip, 0.5 ms
        p.ObserveReply(4_000_000, 0.0045);      // 4 MB in 4.5 ms: 1 GB/s beyond the round trip
        await Assert.That(p.RoundTripSeconds).IsEqualTo(0.0005).Within(1e-9);
        await Assert.That(p.BytesPerSecond).IsEqualTo(1e9).Within(1e3);
        await Assert.That(p.ShouldFetch(10, 400_000, 16)).IsTrue();   // still no prefill rate

        // 10 blocks of 400 KB at 1 GB/s + 0.5 ms = 4.5 ms against 160 tokens of prefill.
        p.ObservePrefill(1000, 0.5);            // 2,000 tokens/s: 80 ms to recompute
        await Assert.That(p.ShouldFetch(10, 400_000, 16)).IsTrue();
        var fast = new RemoteFetchPolicy();
        fast.ObserveReply(16, 0.0005);
        fast.ObserveReply(4_000_000, 0.0045);
        fast.ObservePrefill(1_000_000, 0.5);    // 2 M tokens/s: 0.08 ms to recompute: the fetch loses
        await Assert.That(fast.ShouldFetch(10, 400_000, 16)).IsFalse();
        await Assert.That(new RemoteFetchPolicy { AlwaysFetch = true }.ShouldFetch(10, 400_000, 16)).IsTrue();
    }

    [Test]
    public async Task The_arithmetic_is_the_documented_one()
    {
        await Assert.That(RemoteFetchPolicy.FetchSeconds(125, 393_216, 0.0005, 1.25e9)).IsEqualTo(125 * 393_216 / 1.25e9 + 0.0005).Within(1e-12);
        await Assert.That(RemoteFetchPolicy.RecomputeSeconds(125, 16, 400)).IsEqualTo(5.0).Within(1e-12);
    }
}
