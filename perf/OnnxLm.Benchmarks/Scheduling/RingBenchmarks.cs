// Design: throughput of moving Items values from producer thread(s) to one consumer, custom rings vs Channel<T>.
// Every benchmark moves the same number of items through a 1024-slot structure; results are per item
// (OperationsPerInvoke). Producers spin (SpinWait) when the structure is full, the same way for rings and channels,
// so the comparison isolates the queue and the consumer's wait strategy. Producer threads are started per invocation;
// their cost is spread over Items and shows as ~0 B/op. The ping-pong benchmarks model the engine's real cadence (one
// token per request per step, the handler parked in between): the producer writes one item only after the reader has
// consumed the previous one, so each item costs a full park + wake + thread-pool hop.
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using BenchmarkDotNet.Attributes;
using OnnxLm.Benchmarks.Harness;
using OnnxLm.Engine.Scheduling;

namespace OnnxLm.Benchmarks.Scheduling;

[MemoryDiagnoser]
[AllocatesOnOtherThreads]   // producer threads and async continuations
public class RingBenchmarks
{
    public const int Items = 1 << 20;
    // Round trips for the ping-pong benchmarks: each one parks the reader, so every item takes the full wait path.
    public const int RoundTrips = 1 << 14;
    private const int Capacity = 1024;
    // Two producers: the target machines have few cores and the engine sees a handful of concurrent submitters.
    private const int Producers = 2;

    private MpscRing<long> mpsc = null!;
    private EngineWakeup wakeup = null!;
    private SpscRing<long> spsc = null!;

    [GlobalSetup]
    public void Setup()
    {
        mpsc = new MpscRing<long>(Capacity);
        wakeup = new EngineWakeup();
        spsc = new SpscRing<long>(Capacity);
    }

    [GlobalCleanup]
    public void Cleanup() => wakeup.Dispose();

    // ------------------------------------------------------------------ many producers → one consumer

    [Benchmark(OperationsPerInvoke = Items), BenchmarkCategory("MPSC")]
    public long Mpsc_ring_spinning_consumer()
    {
        MpscRing<long> ring = mpsc;
        Thread[] producers = StartProducers(ring, static (r, v) => r.TryEnqueue(v), signal: null);
        long sum = 0;
        var spin = new SpinWait();
        for (int received = 0; received < Items;)
        {
            if (ring.TryDequeue(out long v)) { sum += v; received++; spin.Reset(); }
            else spin.SpinOnce(sleep1Threshold: -1);
        }
        Join(producers);
        return sum;
    }

    [Benchmark(OperationsPerInvoke = Items), BenchmarkCategory("MPSC")]
    public long Mpsc_ring_wakeup_consumer()
    {
        // The engine's real pattern: producers Signal after each enqueue; the consumer drains, then sleeps on the wakeup.
        MpscRing<long> ring = mpsc;
        EngineWakeup wakeup = this.wakeup;
        Thread[] producers = StartProducers(ring, static (r, v) => r.TryEnqueue(v), signal: wakeup);
        long sum = 0;
        for (int received = 0; received < Items;)
        {
            bool any = false;
            while (ring.TryDequeue(out long v)) { sum += v; received++; any = true; }
            if (!any && received < Items) wakeup.Wait(1000);
        }
        Join(producers);
        return sum;
    }

    [Benchmark(OperationsPerInvoke = Items), BenchmarkCategory("MPSC")]
    public long Mpsc_channel_spinning_consumer()
    {
        Channel<long> channel = CreateChannel(singleWriter: false);
        Thread[] producers = StartProducers(channel.Writer, static (w, v) => w.TryWrite(v), signal: null);
        long sum = 0;
        var spin = new SpinWait();
        for (int received = 0; received < Items;)
        {
            if (channel.Reader.TryRead(out long v)) { sum += v; received++; spin.Reset(); }
            else spin.SpinOnce(sleep1Threshold: -1);
        }
        Join(producers);
        return sum;
    }

    [Benchmark(OperationsPerInvoke = Items), BenchmarkCategory("MPSC")]
    public long Mpsc_channel_async_consumer()
    {
        Channel<long> channel = CreateChannel(singleWriter: false);
        Thread[] producers = StartProducers(channel.Writer, static (w, v) => w.TryWrite(v), signal: null);
        long sum = DrainAsync(channel.Reader).GetAwaiter().GetResult();
        Join(producers);
        return sum;
    }

    // ------------------------------------------------------------------ engine thread → one async handler

    [Benchmark(OperationsPerInvoke = Items), BenchmarkCategory("SPSC")]
    public long Spsc_ring_async_reader()
    {
        SpscRing<long> ring = spsc;
        Thread producer = StartSingleProducer(ring, static (r, v) => r.TryWrite(v));
        long sum = DrainAsync(ring).GetAwaiter().GetResult();
        producer.Join();
        return sum;
    }

    [Benchmark(OperationsPerInvoke = Items), BenchmarkCategory("SPSC")]
    public long Spsc_channel_async_reader()
    {
        Channel<long> channel = CreateChannel(singleWriter: true);
        Thread producer = StartSingleProducer(channel.Writer, static (w, v) => w.TryWrite(v));
        long sum = DrainAsync(channel.Reader).GetAwaiter().GetResult();
        producer.Join();
        return sum;
    }

    [Benchmark(OperationsPerInvoke = RoundTrips), BenchmarkCategory("SPSC")]
    public long Spsc_ring_ping_pong()
    {
        SpscRing<long> ring = spsc;
        var consumed = new StrongBox<long>();
        Thread producer = StartPingPongProducer(ring, static (r, v) => r.TryWrite(v), consumed);
        long sum = PingPongReadAsync(ring, consumed).GetAwaiter().GetResult();
        producer.Join();
        return sum;
    }

    [Benchmark(OperationsPerInvoke = RoundTrips), BenchmarkCategory("SPSC")]
    public long Spsc_channel_ping_pong()
    {
        Channel<long> channel = CreateChannel(singleWriter: true);
        var consumed = new StrongBox<long>();
        Thread producer = StartPingPongProducer(channel.Writer, static (w, v) => w.TryWrite(v), consumed);
        long sum = PingPongReadAsync(channel.Reader, consumed).GetAwaiter().GetResult();
        producer.Join();
        return sum;
    }

    // ------------------------------------------------------------------ helpers

    private static async Task<long> PingPongReadAsync(SpscRing<long> ring, StrongBox<long> consumed)
    {
        long sum = 0;
        for (long received = 0; received < RoundTrips;)
        {
            if (ring.TryRead(out long v)) { sum += v; Volatile.Write(ref consumed.Value, ++received); }
            else await ring.WaitToReadAsync(CancellationToken.None).ConfigureAwait(false);
        }
        return sum;
    }

    private static async Task<long> PingPongReadAsync(ChannelReader<long> reader, StrongBox<long> consumed)
    {
        long sum = 0;
        for (long received = 0; received < RoundTrips;)
        {
            if (reader.TryRead(out long v)) { sum += v; Volatile.Write(ref consumed.Value, ++received); }
            else await reader.WaitToReadAsync().ConfigureAwait(false);
        }
        return sum;
    }

    private static Thread StartPingPongProducer<TQueue>(TQueue queue, Func<TQueue, long, bool> tryAdd,
        StrongBox<long> consumed)
    {
        var thread = new Thread(() =>
        {
            for (long v = 0; v < RoundTrips; v++)
            {
                tryAdd(queue, v);
                var spin = new SpinWait();
                while (Volatile.Read(ref consumed.Value) != v + 1) spin.SpinOnce(sleep1Threshold: -1);
            }
        })
        { IsBackground = true };
        thread.Start();
        return thread;
    }


    private static Channel<long> CreateChannel(bool singleWriter) =>
        Channel.CreateBounded<long>(new BoundedChannelOptions(Capacity)
        {
            SingleReader = true,
            SingleWriter = singleWriter,
            FullMode = BoundedChannelFullMode.Wait,
            AllowSynchronousContinuations = false,
        });

    private static async Task<long> DrainAsync(ChannelReader<long> reader)
    {
        long sum = 0;
        for (int received = 0; received < Items;)
        {
            if (reader.TryRead(out long v)) { sum += v; received++; }
            else await reader.WaitToReadAsync().ConfigureAwait(false);
        }
        return sum;
    }

    private static async Task<long> DrainAsync(SpscRing<long> ring)
    {
        long sum = 0;
        for (int received = 0; received < Items;)
        {
            if (ring.TryRead(out long v)) { sum += v; received++; }
            else await ring.WaitToReadAsync(CancellationToken.None).ConfigureAwait(false);
        }
        return sum;
    }

    private static Thread[] StartProducers<TQueue>(TQueue queue, Func<TQueue, long, bool> tryAdd, EngineWakeup? signal)
    {
        var threads = new Thread[Producers];
        for (int p = 0; p < Producers; p++)
        {
            long first = (long)p * (Items / Producers);
            threads[p] = new Thread(() =>
            {
                var spin = new SpinWait();
                for (long v = first, end = first + Items / Producers; v < end; v++)
                {
                    while (!tryAdd(queue, v)) { signal?.Signal(); spin.SpinOnce(sleep1Threshold: -1); }
                    spin.Reset();
                    signal?.Signal();
                }
            })
            { IsBackground = true };
            threads[p].Start();
        }
        return threads;
    }

    private static Thread StartSingleProducer<TQueue>(TQueue queue, Func<TQueue, long, bool> tryAdd)
    {
        var thread = new Thread(() =>
        {
            var spin = new SpinWait();
            for (long v = 0; v < Items; v++)
            {
                while (!tryAdd(queue, v)) spin.SpinOnce(sleep1Threshold: -1);
                spin.Reset();
            }
        })
        { IsBackground = true };
        thread.Start();
        return thread;
    }

    private static void Join(Thread[] threads)
    {
        foreach (Thread t in threads) t.Join();
    }
}
