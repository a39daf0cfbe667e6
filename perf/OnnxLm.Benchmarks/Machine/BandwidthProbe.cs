using System.Diagnostics;
using System.Globalization;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace OnnxLm.Benchmarks.Machine;

/// <summary>
/// The <c>bandwidth</c> subcommand: the machine's sustained memory read bandwidth, the physical limit of decode (every
/// decode step streams all the weights). T threads each sum their own contiguous slice of one large buffer (default
/// 1 GiB, far beyond any cache) with <see cref="Vector{T}"/> adds; a pass is timed from a common start to the last
/// thread's end, and the best of N passes is reported (the least disturbed by other processes), with the median beside
/// it. The buffer is written once before timing so every page is resident.
/// </summary>
public static unsafe class BandwidthProbe
{
    public static int Run(string[] args)
    {
        long mib = 1024;
        int repeats = 7;
        int threads = Environment.ProcessorCount;
        string? output = null;
        for (int i = 0; i < args.Length; i++)
        {
            string? Next() => i + 1 < args.Length ? args[++i] : null;
            switch (args[i])
            {
                case "--mib" when long.TryParse(Next(), CultureInfo.InvariantCulture, out long m) && m >= 64: mib = m; break;
                case "--repeats" when int.TryParse(Next(), CultureInfo.InvariantCulture, out int r) && r > 0: repeats = r; break;
                case "--threads" when int.TryParse(Next(), CultureInfo.InvariantCulture, out int t) && t > 0: threads = t; break;
                case "--out" when Next() is { } o: output = o; break;
                default:
                    Console.Error.WriteLine("usage: bandwidth [--mib N (default 1024)] [--repeats N (default 7)] [--threads N (default all cores)] [--out FILE.json]");
                    return 2;
            }
        }

        long bytes = mib << 20;
        string loadAtStart = MachineInfo.LoadAverage();
        var samples = Measure(bytes, threads, repeats);
        double[] sorted = [.. samples];
        Array.Sort(sorted);
        double best = sorted[^1], median = sorted[sorted.Length / 2];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"memory read bandwidth: best {best:F1} GB/s, median {median:F1} GB/s ({threads} threads, {mib} MiB buffer, {repeats} passes: {string.Join(", ", samples.Select(s => s.ToString("F1", CultureInfo.InvariantCulture)))})"));
        if (output is not null)
        {
            if (Path.GetDirectoryName(Path.GetFullPath(output)) is { } folder) Directory.CreateDirectory(folder);
            using var stream = File.Create(output);
            using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
            w.WriteStartObject();
            w.WriteString("kind", "bandwidth");
            w.WriteString("command", "dotnet run -c Release --project perf/OnnxLm.Benchmarks -- bandwidth " + string.Join(' ', args));
            w.WriteString("date", DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture));
            MachineInfo.Write(w, loadAtStart);
            w.WriteNumber("bufferBytes", bytes);
            w.WriteNumber("threads", threads);
            w.WriteNumber("processorCount", Environment.ProcessorCount);
            w.WriteNumber("bestGBs", Math.Round(best, 2));
            w.WriteNumber("medianGBs", Math.Round(median, 2));
            w.WriteNumber("minGBs", Math.Round(sorted[0], 2));
            w.WriteStartArray("samplesGBs");
            foreach (double s in samples) w.WriteNumberValue(Math.Round(s, 2));
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return 0;
    }

    /// <summary>GB/s (10^9 bytes per second) of each pass.</summary>
    public static double[] Measure(long bytes, int threads, int repeats)
    {
        // Whole vectors per thread, so no thread needs a scalar tail.
        long vectors = bytes / Vector<byte>.Count;
        long perThread = vectors / threads;
        bytes = perThread * threads * Vector<byte>.Count;
        // 2 MiB-aligned and advised as huge pages (Linux, transparent huge pages in "madvise" mode), as large weight
        // buffers usually are, so the scan measures DRAM rather than page walks.
        byte* buffer = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 2 << 20);
        if (OperatingSystem.IsLinux()) _ = Madvise(buffer, (nuint)bytes, MadviseHugePage);
        try
        {
            // Touch every page (and keep the data non-zero so nothing can shortcut the sum).
            for (long off = 0; off < bytes; off += int.MaxValue / 2)
                new Span<byte>(buffer + off, (int)Math.Min(int.MaxValue / 2, bytes - off)).Fill(1);

            var samples = new double[repeats];
            using var start = new Barrier(threads + 1);
            using var end = new Barrier(threads + 1);
            var sums = new ulong[threads];
            var workers = new Thread[threads];
            for (int t = 0; t < threads; t++)
            {
                int id = t;
                workers[t] = new Thread(() =>
                {
                    var slice = (Vector<ulong>*)(buffer + id * perThread * Vector<byte>.Count);
                    for (int r = 0; r <= repeats; r++)   // pass 0 is a warm-up
                    {
                        start.SignalAndWait();
                        sums[id] += Sum(slice, perThread);
                        end.SignalAndWait();
                    }
                })
                { IsBackground = true, Name = $"bandwidth-{t}" };
                workers[t].Start();
            }
            for (int r = 0; r <= repeats; r++)
            {
                start.SignalAndWait();
                long t0 = Stopwatch.GetTimestamp();
                end.SignalAndWait();
                double seconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                if (r > 0) samples[r - 1] = bytes / seconds / 1e9;
            }
            foreach (var w in workers) w.Join();
            // The sums are checked so the reads cannot be optimized away: every byte is 1.
            ulong total = 0;
            foreach (ulong s in sums) total += s;
            if (total == 0) throw new InvalidOperationException("bandwidth probe summed nothing");
            return samples;
        }
        finally
        {
            NativeMemory.AlignedFree(buffer);
        }
    }

    const int MadviseHugePage = 14;   // MADV_HUGEPAGE

    [DllImport("libc", EntryPoint = "madvise")]
    static extern int Madvise(void* address, nuint length, int advice);

    /// <summary>Sums <paramref name="count"/> vectors with four independent accumulators (hides the add latency).</summary>
    static ulong Sum(Vector<ulong>* p, long count)
    {
        Vector<ulong> a = default, b = default, c = default, d = default;
        long i = 0;
        for (; i + 4 <= count; i += 4)
        {
            a += p[i];
            b += p[i + 1];
            c += p[i + 2];
            d += p[i + 3];
        }
        for (; i < count; i++) a += p[i];
        return Vector.Sum(a + b + c + d);
    }
}
