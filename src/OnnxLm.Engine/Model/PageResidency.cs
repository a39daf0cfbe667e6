using System.Runtime.InteropServices;

namespace OnnxLm.Engine.Model;

/// <summary>
/// Memory that fills as sequences grow (the KV slot rows): kept on small pages and measurable. The rows are reserved for
/// the full context but the OS commits a page only when it is first written, so a row costs memory for the tokens in it.
/// Where transparent huge pages are "always" on, the first write into a 2 MiB range would commit all of it (for every
/// layer, K/V and kv head of every row); <see cref="KeepOnSmallPages"/> opts the rows out (MADV_NOHUGEPAGE).
/// <see cref="ResidentBytes"/> counts the committed pages with mincore, so tests can assert what a row really costs.
/// Linux only; elsewhere a no-op and -1.
/// </summary>
public static partial class PageResidency
{
    const int MadvNoHugePage = 15;
    static readonly long PageSize = Environment.SystemPageSize;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int madvise(nint address, nuint length, int advice);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int mincore(nint address, nuint length, byte* vector);

    /// <summary>Asks the kernel to back the whole pages inside [pointer, pointer + bytes) with small pages only.</summary>
    public static void KeepOnSmallPages(nint pointer, long bytes)
    {
        if (!OperatingSystem.IsLinux()) return;
        var (start, length) = Inner(pointer, bytes);
        if (length <= 0) return;
        try
        {
            madvise(start, (nuint)length, MadvNoHugePage);   // best effort: a kernel without THP refuses, which is fine
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
        }
    }

    /// <summary>Bytes of the whole pages inside [pointer, pointer + bytes) that are resident now; -1 when unknown.</summary>
    public static unsafe long ResidentBytes(nint pointer, long bytes)
    {
        if (!OperatingSystem.IsLinux()) return -1;
        var (start, length) = Inner(pointer, bytes);
        if (length <= 0) return 0;
        const long window = 1L << 30;
        var vector = new byte[(int)(Math.Min(window, length) / PageSize)];
        long resident = 0;
        try
        {
            for (long offset = 0; offset < length; offset += window)
            {
                long n = Math.Min(window, length - offset);
                fixed (byte* v = vector)
                {
                    if (mincore(start + (nint)offset, (nuint)n, v) != 0) return -1;
                }
                for (long i = 0; i < n / PageSize; i++) resident += vector[i] & 1;
            }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return -1;
        }
        return resident * PageSize;
    }

    static (nint Start, long Length) Inner(nint pointer, long bytes)
    {
        long s = ((long)pointer + PageSize - 1) & ~(PageSize - 1);
        long e = ((long)pointer + bytes) & ~(PageSize - 1);
        return ((nint)s, e - s);
    }
}
