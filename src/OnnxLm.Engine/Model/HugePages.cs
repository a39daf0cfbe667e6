using System.Globalization;
using System.Runtime.InteropServices;

namespace OnnxLm.Engine.Model;

/// <summary>
/// Transparent huge pages for the memory a decode step streams through (Linux only; a no-op elsewhere or when the kernel
/// refuses). A decode step reads every weight once: with 4 KiB pages that is a TLB miss every 4 KiB, and in a VM each
/// miss is a two-level page walk. Most distributions ship THP in "madvise" mode, so nothing gets huge pages unless asked:
/// ONNX Runtime allocates the (prepacked) weights itself, so once the session is loaded <see cref="CollapseResident"/>
/// finds the densely populated huge-page-sized chunks (2 MiB on x64) of the process's anonymous memory and asks the kernel to collapse them into
/// huge pages now (MADV_COLLAPSE, Linux ≥ 6.1) and to keep using huge pages there (MADV_HUGEPAGE). Only dense chunks
/// are touched, so sparse memory (thread stacks, reservations) does not grow. The KV slot rows are left on
/// small pages: they fill as sequences grow, and 2 MiB pages would commit a row's memory for every layer up front.
/// Measured on the benchmark model (docs/BENCHMARKS.md): about 250-350 MiB collapsed in 0.1-0.8 s; single-stream decode
/// 3.6 % faster (fp32) and 1.6 % (int4), medians of alternating-process pairs.
/// </summary>
public static partial class HugePages
{
    const int MadvHugePage = 14, MadvCollapse = 25;
    // The PMD size: 2 MiB with 4 KiB pages (x64, most arm64), 32 MiB with 16 KiB pages, 512 MiB with 64 KiB pages.
    static readonly long HugePageSize = ReadHugePageSize();
    static readonly long PageSize = Environment.SystemPageSize;
    const long WindowBytes = 1L << 30;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int madvise(nint address, nuint length, int advice);

    /// <summary>
    /// Collapses the densely populated huge-page-sized chunks (at least <paramref name="minDensity"/> of their pages resident) of every
    /// anonymous, writable mapping holding at least <paramref name="minResidentBytes"/> into huge pages. Density is checked
    /// per chunk with mincore, not per mapping: the kernel merges neighbouring anonymous mappings, so a weight buffer
    /// often shares one mapping with sparse reservations. Returns the bytes now on huge pages through this call (0 when
    /// unsupported).
    /// </summary>
    public static long CollapseResident(long minResidentBytes = 8L << 20, double minDensity = 0.9, CancellationToken cancel = default)
    {
        if (!OperatingSystem.IsLinux()) return 0;
        List<(nint Start, long Length)> targets;
        try
        {
            targets = AnonymousMappings(File.ReadLines("/proc/self/smaps"), minResidentBytes);
        }
        catch (IOException)
        {
            return 0;
        }
        catch (UnauthorizedAccessException)
        {
            return 0;
        }
        long collapsed = 0;
        var resident = new byte[(int)(WindowBytes / PageSize)];
        foreach (var (start, length) in targets)
        {
            var (s, n) = Aligned(start, length);
            for (long offset = 0; offset < n; offset += WindowBytes)
            {
                long window = Math.Min(WindowBytes, n - offset);
                collapsed += CollapseDenseChunks(s + (nint)offset, window, resident, minDensity, cancel);
            }
        }
        return collapsed;
    }


    /// <summary>One window of a mapping: finds runs of dense 2 MiB chunks with mincore and collapses each run.</summary>
    static unsafe long CollapseDenseChunks(nint start, long length, byte[] resident, double minDensity, CancellationToken cancel)
    {
        long pages = length / PageSize;
        fixed (byte* vec = resident)
        {
            if (mincore(start, (nuint)length, vec) != 0) return 0;
        }
        long collapsed = 0, runStart = -1;
        int perChunk = (int)(HugePageSize / PageSize), needed = (int)Math.Ceiling(perChunk * minDensity);
        for (long chunk = 0; chunk <= pages / perChunk; chunk++)
        {
            bool dense = false;
            if (chunk < pages / perChunk)
            {
                int count = 0;
                for (long i = chunk * perChunk; i < (chunk + 1) * perChunk; i++) count += resident[i] & 1;
                dense = count >= needed;
            }
            if (dense && runStart < 0) runStart = chunk;
            if (!dense && runStart >= 0)
            {
                // Checked per run, not per window: the owner may be about to free this memory (engine disposal).
                if (cancel.IsCancellationRequested) return collapsed;
                nint at = start + (nint)(runStart * HugePageSize);
                nuint bytes = (nuint)((chunk - runStart) * HugePageSize);
                madvise(at, bytes, MadvHugePage);
                if (madvise(at, bytes, MadvCollapse) == 0) collapsed += (long)bytes;
                runStart = -1;
            }
        }
        return collapsed;
    }

    static long ReadHugePageSize()
    {
        try
        {
            if (long.TryParse(File.ReadAllText("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size").Trim(),
                    NumberStyles.Integer, CultureInfo.InvariantCulture, out long size) && size > 0)
                return size;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        return 2L << 20;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int mincore(nint address, nuint length, byte* vector);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setpriority(int which, int who, int priority);

    [LibraryImport("libc")]
    private static partial int gettid();

    /// <summary>
    /// Lowers the calling thread to the lowest CPU priority (nice 19; Linux nice values are per thread), so work it does
    /// in the kernel on its behalf (a collapse's page copies) yields to the model's threads. False when not possible.
    /// </summary>
    public static bool DeprioritizeCurrentThread()
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            return setpriority(0 /* PRIO_PROCESS: with a thread id, that one thread */, gettid(), 19) == 0;
        }
        catch (EntryPointNotFoundException)
        {
            return false;   // a C library without gettid (glibc < 2.30): the collapse runs at normal priority
        }
    }

    /// <summary>Parses smaps: anonymous private writable mappings (no backing file, or the brk heap) with at least
    /// <paramref name="minResidentBytes"/> resident.</summary>
    internal static List<(nint Start, long Length)> AnonymousMappings(IEnumerable<string> smaps, long minResidentBytes)
    {
        var result = new List<(nint, long)>();
        nint start = 0;
        long length = 0, rss = 0;
        bool candidate = false;
        foreach (var line in smaps)
        {
            if (line.Length > 0 && IsHeader(line, out var s, out var e, out bool anonymousWritable))
            {
                Flush();
                start = s;
                length = e - s;
                rss = 0;
                candidate = anonymousWritable && length >= HugePageSize;
            }
            else if (candidate && line.StartsWith("Rss:", StringComparison.Ordinal))
            {
                rss = ParseKb(line) * 1024;
            }
        }
        Flush();
        return result;

        void Flush()
        {
            if (candidate && rss >= minResidentBytes) result.Add((start, length));
            candidate = false;
        }
    }

    static bool IsHeader(string line, out nint start, out long end, out bool anonymousWritable)
    {
        start = 0;
        end = 0;
        anonymousWritable = false;
        // "7f12a000-7f12c000 rw-p 00000000 00:00 0    [path]"
        int dash = line.IndexOf('-');
        int space = line.IndexOf(' ');
        if (dash <= 0 || space <= dash) return false;
        if (!long.TryParse(line.AsSpan(0, dash), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out long s)) return false;
        if (!long.TryParse(line.AsSpan(dash + 1, space - dash - 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out long e)) return false;
        var fields = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length < 5) return false;
        string path = fields.Length >= 6 ? fields[5].Trim() : "";
        anonymousWritable = fields[1] == "rw-p" && fields[4] == "0" && (path.Length == 0 || path == "[heap]");
        start = (nint)s;
        end = e;
        return true;
    }

    static long ParseKb(string line)
    {
        var digits = line.AsSpan(4).Trim();
        int space = digits.IndexOf(' ');
        if (space > 0) digits = digits[..space];
        return long.TryParse(digits, NumberStyles.Integer, CultureInfo.InvariantCulture, out long kb) ? kb : 0;
    }

    static (nint Start, long Length) Aligned(nint pointer, long bytes)
    {
        long s = ((long)pointer + HugePageSize - 1) & ~(HugePageSize - 1);
        long e = ((long)pointer + bytes) & ~(HugePageSize - 1);
        return ((nint)s, e - s);
    }
}
