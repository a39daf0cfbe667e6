using OnnxLm.Engine.Cache.Remote;

namespace OnnxLm.Tests.Cache.Remote;

/// <summary><see cref="CircuitBreaker"/>: opens after the threshold of consecutive failures, refuses until the cool-down
/// ends, lets exactly one probe through, and the probe's outcome closes or reopens it; every transition is counted.</summary>
public class CircuitBreakerTests
{
    sealed class Clock : TimeProvider
    {
        long now;
        public override long TimestampFrequency => TimeSpan.TicksPerSecond;
        public override long GetTimestamp() => Interlocked.Read(ref now);
        public void Advance(TimeSpan by) => Interlocked.Add(ref now, by.Ticks);
    }

    [Test]
    public async Task Repeated_failures_open_it_a_probe_after_the_cool_down_closes_it()
    {
        var clock = new Clock();
        var b = new CircuitBreaker(3, TimeSpan.FromSeconds(2), clock);
        b.Failure();
        b.Failure();
        b.Success();   // a success in between resets the count
        b.Failure();
        b.Failure();
        await Assert.That(b.State).IsEqualTo(BreakerState.Closed);
        b.Failure();
        await Assert.That(b.State).IsEqualTo(BreakerState.Open);
        await Assert.That(b.Opened).IsEqualTo(1);
        await Assert.That(b.TryAcquire()).IsFalse();
        await Assert.That(b.MayAcquire).IsFalse();

        clock.Advance(TimeSpan.FromSeconds(2));
        await Assert.That(b.MayAcquire).IsTrue();
        await Assert.That(b.State).IsEqualTo(BreakerState.Open);   // asking did not take the probe
        await Assert.That(b.TryAcquire()).IsTrue();    // the probe
        await Assert.That(b.State).IsEqualTo(BreakerState.HalfOpen);
        await Assert.That(b.TryAcquire()).IsFalse();   // only one at a time
        b.Success();
        await Assert.That(b.State).IsEqualTo(BreakerState.Closed);
        await Assert.That(b.Closed).IsEqualTo(1);
        await Assert.That(b.TryAcquire()).IsTrue();
    }

    [Test]
    public async Task A_failed_probe_reopens_it_for_another_cool_down_and_an_abandoned_probe_lets_another_try()
    {
        var clock = new Clock();
        var b = new CircuitBreaker(1, TimeSpan.FromSeconds(1), clock);
        b.Failure();
        clock.Advance(TimeSpan.FromSeconds(1));
        await Assert.That(b.TryAcquire()).IsTrue();
        b.Failure();
        await Assert.That(b.State).IsEqualTo(BreakerState.Open);
        await Assert.That(b.Opened).IsEqualTo(2);
        clock.Advance(TimeSpan.FromMilliseconds(999));
        await Assert.That(b.TryAcquire()).IsFalse();
        clock.Advance(TimeSpan.FromMilliseconds(1));
        await Assert.That(b.TryAcquire()).IsTrue();
        b.Release();
        await Assert.That(b.TryAcquire()).IsTrue();
        await Assert.That(b.Closed).IsEqualTo(0);
    }
}
