using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

namespace OnnxLm.Hub;

/// <summary>
/// Download progress on stderr: on a terminal one redrawn bar (bytes, rate, time left), otherwise a plain line every
/// few seconds. Counts bytes on disk per file, so a resumed or restarted file is shown as it really is.
/// </summary>
internal sealed class PullProgress : IDisposable
{
    readonly TextWriter output;
    readonly bool terminal;
    readonly ConcurrentDictionary<string, long> resumedAt = new(StringComparer.Ordinal);
    readonly Stopwatch clock = Stopwatch.StartNew();
    readonly Timer? timer;
    readonly Lock gate = new();
    long total;
    long onDisk;
    long fetched;
    bool drawn;
    TimeSpan lastLine;

    public PullProgress(TextWriter output, bool terminal)
    {
        this.output = output;
        this.terminal = terminal;
        timer = new Timer(_ => Render(final: false), null, 200, terminal ? 200 : 1000);
    }

    /// <summary>Bytes fetched over the network by this run (resumed bytes excluded).</summary>
    public long FetchedBytes => Interlocked.Read(ref fetched);

    public void Plan(long bytes)
    {
        // The rate counts from the first planned byte, not from the API calls before it.
        if (Interlocked.Add(ref total, bytes) == bytes) clock.Restart();
    }

    public void Resumed(HubFile file, long offset)
    {
        long before = resumedAt.TryGetValue(file.Path, out long b) ? b : 0;
        resumedAt[file.Path] = offset;
        Interlocked.Add(ref onDisk, offset - before);
        if (offset > 0) Note($"{file.Path}: resuming at byte {offset.ToString("N0", CultureInfo.InvariantCulture)}");
    }

    public void Add(int bytes)
    {
        Interlocked.Add(ref onDisk, bytes);
        Interlocked.Add(ref fetched, bytes);
    }

    public void Note(string line)
    {
        lock (gate)
        {
            if (drawn) output.Write("\r\u001b[K");
            drawn = false;
            output.WriteLine(line);
        }
    }

    void Render(bool final)
    {
        long all = Interlocked.Read(ref total);
        if (all <= 0) return;
        long done = Math.Min(all, Interlocked.Read(ref onDisk));
        double seconds = clock.Elapsed.TotalSeconds;
        double rate = seconds > 0 ? Interlocked.Read(ref fetched) / seconds : 0;
        string left = rate > 0 && done < all ? FormatTime((all - done) / rate) : "--:--";
        string text = $"{Bytes(done)} / {Bytes(all)}  {Bytes((long)rate)}/s  {left} left";
        lock (gate)
        {
            if (terminal)
            {
                int width = 30, filled = (int)(width * done / all);
                output.Write($"\r\u001b[K[{new string('#', filled)}{new string('.', width - filled)}] {100 * done / all,3}% {text}");
                drawn = true;
                if (final) { output.WriteLine(); drawn = false; }
            }
            else if (final || clock.Elapsed - lastLine >= TimeSpan.FromSeconds(5))
            {
                lastLine = clock.Elapsed;
                output.WriteLine($"progress: {100 * done / all}% {text}");
            }
        }
    }

    static string FormatTime(double seconds)
    {
        var t = TimeSpan.FromSeconds(Math.Min(seconds, 359_999));
        return t.TotalHours >= 1 ? $"{(int)t.TotalHours}:{t.Minutes:00}:{t.Seconds:00}" : $"{t.Minutes}:{t.Seconds:00}";
    }

    public static string Bytes(long n) => n switch
    {
        >= 1L << 30 => $"{n / (double)(1L << 30):0.00} GiB",
        >= 1L << 20 => $"{n / (double)(1L << 20):0.0} MiB",
        >= 1L << 10 => $"{n / (double)(1L << 10):0.0} KiB",
        _ => $"{n} B",
    };

    public void Dispose()
    {
        if (Interlocked.Exchange(ref disposed, 1) == 1) return;
        timer?.Dispose();
        Render(final: true);
    }

    int disposed;
}
