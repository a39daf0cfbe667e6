using System.Buffers;
using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Threading.Channels;

namespace OnnxLm.Hub;

/// <summary>
/// Brings one file into <c>blobs/</c>: under the blob's lock, HEAD on <c>/resolve/</c> (redirect read, not followed),
/// then GET from where it points, appending to <c>blobs/{etag}.incomplete</c> and resuming it with <c>Range</c> after a
/// cut, a stall or a restart of the process (a server that ignores <c>Range</c> restarts it from byte 0). The complete
/// file is checked (size, and sha256 for LFS files or git sha1 for the others) before it is renamed to
/// <c>blobs/{etag}</c>; a mismatch deletes it. Memory stays at a few pooled buffers per download, whatever the file size.
/// </summary>
internal sealed partial class BlobDownloader(HubApi api, HubCache cache, HubTransferOptions transfer, PullProgress progress)
{
    const int BufferSize = 1 << 20;
    const int PipelineDepth = 4;

    /// <summary>The file's verified blob (fetched unless it is already there) and its ETag.</summary>
    public async Task<(string Blob, string Etag)> EnsureAsync(HubModelRef r, string commit, HubFile file, CancellationToken ct)
    {
        if (file.IsLfs && IsComplete(cache.BlobPath(r, file.Etag), file.Size))
            return (cache.BlobPath(r, file.Etag), file.Etag);
        var resolve = api.ResolveUrl(r, commit, file.Path);
        var head = await HeadAsync(r, commit, file, resolve, ct);
        string blob = cache.BlobPath(r, head.Etag);
        if (IsComplete(blob, file.Size))
            return (blob, head.Etag);
        Directory.CreateDirectory(cache.BlobsDirectory(r));
        await using (await cache.LockAsync(r, head.Etag, transfer.Note, ct))
        {
            // Another process may have finished it while we waited for the lock.
            if (IsComplete(blob, file.Size))
                return (blob, head.Etag);
            await DownloadAsync(r, commit, file, resolve, head.Location, blob + ".incomplete", ct);
            File.Move(blob + ".incomplete", blob, overwrite: true);
        }
        return (blob, head.Etag);
    }

    static bool IsComplete(string blob, long size) => new FileInfo(blob) is { Exists: true } f && f.Length == size;

    readonly record struct HeadResult(string Etag, Uri Location);

    async Task<HeadResult> HeadAsync(HubModelRef r, string commit, HubFile file, Uri resolve, CancellationToken ct)
    {
        using var response = await api.SendAsync(HttpMethod.Head, resolve, null, r, file.Path, ct, followRedirects: false);
        string? etag = Header(response, "X-Linked-Etag") ?? response.Headers.ETag?.Tag;
        etag = etag?.Replace("W/", "", StringComparison.Ordinal).Trim('"').ToLowerInvariant();
        if (string.IsNullOrEmpty(etag) || etag.Contains('/') || etag.Contains('\\') || etag.StartsWith('.'))
            throw new HubException($"the Hub sent no usable ETag for {file.Path}");
        if (file.IsLfs && etag != file.Sha256)
            throw new HubException($"the Hub disagrees with itself about {file.Path}: the tree lists sha256 {file.Sha256}, /resolve/ answers ETag {etag}", 1);
        if (Header(response, "X-Repo-Commit") is { Length: > 0 } repoCommit && repoCommit != commit)
            throw new HubException($"the Hub resolved {file.Path} at commit {repoCommit}, not the requested {commit}");
        if ((Header(response, "X-Linked-Size") is { } linkedSize ? long.Parse(linkedSize, CultureInfo.InvariantCulture) : (long?)null) is { } size
            && size != file.Size)
            throw new HubException($"the Hub disagrees with itself about {file.Path}: the tree lists {file.Size} bytes, /resolve/ answers {size}", 1);
        var location = (int)response.StatusCode is >= 300 and < 400 && response.Headers.Location is { } l ? new Uri(resolve, l) : resolve;
        return new HeadResult(etag, location);
    }

    static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var v) ? v.FirstOrDefault() : null;

    async Task DownloadAsync(HubModelRef r, string commit, HubFile file, Uri resolve, Uri location, string partial, CancellationToken ct)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            await using var output = new FileStream(partial, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, bufferSize: 0);
            using var hash = NewHash(file);
            long offset = output.Length > file.Size ? 0 : output.Length;
            // The bytes kept from an earlier run count toward the hash (they are read back once).
            output.SetLength(offset);
            await HashPrefixAsync(output, hash, offset, buffer, ct);
            progress.Resumed(file, offset);
            int failures = 0;
            while (offset < file.Size || file.Size == 0)
            {
                long before = offset;
                try
                {
                    offset = await TransferAsync(r, file, location, output, hash, offset, ct);
                    if (file.Size == 0) break;
                    if (offset < file.Size) throw new IOException($"the connection ended after {offset} of {file.Size} bytes");
                }
                catch (IOException e) when (IsDiskFull(e))
                {
                    throw new HubException($"disk full while writing {file.Path} into {Path.GetDirectoryName(partial)} at byte {output.Length} of {file.Size}: " +
                        "free some space and run pull again (it resumes)", 2, e);
                }
                catch (Exception e) when (IsTransient(e, ct))
                {
                    // Every byte written is also hashed (bufferSize 0: no write-behind), so the file's length is where to resume.
                    offset = output.Length;
                    if (offset > before)
                    {
                        // The attempt made progress: a dropped connection, not a failing server; reconnect at once.
                        failures = 0;
                        transfer.Note?.Invoke($"{file.Path}: {Reason(e)} at byte {offset}; resuming");
                    }
                    else
                    {
                        if (++failures >= transfer.MaxAttempts)
                            throw new HubException($"{file.Path}: giving up after {failures} failed attempts ({Reason(e)}); run pull again to resume from byte {offset}");
                        await api.BackOffAfterFailureAsync(failures, $"{file.Path}: {Reason(e)} at byte {offset}", ct);
                    }
                    // A redirect to a CDN may carry an expiring signature: ask the Hub again.
                    try { location = (await HeadAsync(r, commit, file, resolve, ct)).Location; }
                    catch (HubException) { throw; }
                    catch (Exception e2) when (IsTransient(e2, ct)) { }
                }
            }
            await output.FlushAsync(ct);
            output.Flush(flushToDisk: true);
            string actual = Convert.ToHexStringLower(hash.GetHashAndReset());
            long length = output.Length;
            string? problem = length != file.Size ? $"{length} bytes instead of {file.Size}"
                : file.IsLfs && actual != file.Sha256 ? $"sha256 mismatch: expected {file.Sha256}, got {actual}"
                : !file.IsLfs && actual != file.GitOid ? $"git sha1 mismatch: expected {file.GitOid}, got {actual}"
                : null;
            if (problem is not null)
            {
                await output.DisposeAsync();
                File.Delete(partial);
                throw new HubException($"{r.Repo}: {file.Path}: {problem}; the file was deleted (run pull again)", 1);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    static string Reason(Exception e) => e is OperationCanceledException ? "stalled" : e.Message;

    bool IsTransient(Exception e, CancellationToken ct) =>
        !ct.IsCancellationRequested && !IsDiskFull(e) && e is IOException or HttpRequestException or OperationCanceledException && e is not HubException;

    /// <summary>ENOSPC (28) on Unix, ERROR_DISK_FULL / ERROR_HANDLE_DISK_FULL on Windows: no retry helps.</summary>
    static bool IsDiskFull(Exception e) => e is IOException && (e.HResult == 28 || (e.HResult & 0xFFFF) is 112 or 39);

    /// <summary>One GET from <paramref name="offset"/>; returns the new offset. A reply that ignored <c>Range</c> restarts the file.</summary>
    async Task<long> TransferAsync(HubModelRef r, HubFile file, Uri location, FileStream output, IncrementalHash hash, long offset,
        CancellationToken ct)
    {
        long from = offset;
        using var response = await api.SendAsync(HttpMethod.Get, location,
            request => { if (from > 0) request.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(from, null); },
            r, file.Path, ct);
        if (from > 0 && (response.StatusCode != HttpStatusCode.PartialContent || response.Content.Headers.ContentRange?.From != from))
        {
            // The server sent the whole file (or another range): start again from byte 0 with a fresh hash.
            transfer.Note?.Invoke($"{file.Path}: the server did not resume at byte {from}; restarting the file");
            hash.GetHashAndReset();
            if (!file.IsLfs) hash.AppendData(GitBlobHeader(file.Size));
            progress.Resumed(file, 0);
            output.SetLength(0);
            offset = 0;
            if (response.StatusCode == HttpStatusCode.PartialContent) throw new IOException("unexpected Content-Range");
        }
        output.Position = offset;
        await using var body = await response.Content.ReadAsStreamAsync(ct);
        return await CopyAsync(body, file, output, hash, offset, ct);
    }

    /// <summary>
    /// Network → file + hash, pipelined: the socket is read into the next free buffer while the previous one is written
    /// and hashed (on a loaded 2-core machine the sequential loop reached about half of curl's rate). Buffers are handed
    /// over in order through a bounded channel, so the file and the hash always hold the same prefix: when the read
    /// fails, the buffers already read are still written before the error is rethrown, and the file's length is the
    /// resume point. Memory: <see cref="PipelineDepth"/> pooled buffers, whatever the file size.
    /// </summary>
    async Task<long> CopyAsync(Stream body, HubFile file, FileStream output, IncrementalHash hash, long offset, CancellationToken ct)
    {
        var free = Channel.CreateBounded<byte[]>(PipelineDepth);
        var filled = Channel.CreateBounded<(byte[] Buffer, int Count)>(new BoundedChannelOptions(PipelineDepth) { SingleReader = true, SingleWriter = true });
        var buffers = new byte[PipelineDepth][];
        for (int i = 0; i < PipelineDepth; i++) free.Writer.TryWrite(buffers[i] = ArrayPool<byte>.Shared.Rent(BufferSize));
        long written = offset, flushedTo = offset;
        // A failed write stops the reader too (it would otherwise wait for a free buffer forever).
        using var pipe = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var consumer = Task.Run(async () =>
        {
            try
            {
                await foreach (var (buffer, count) in filled.Reader.ReadAllAsync(CancellationToken.None))
                {
                    await output.WriteAsync(buffer.AsMemory(0, count), ct);
                    hash.AppendData(buffer, 0, count);
                    written += count;
                    progress.Add(count);
                    free.Writer.TryWrite(buffer);
                    if (written - flushedTo >= WritebackChunk)
                    {
                        StartWriteback(output, flushedTo, written - flushedTo);
                        flushedTo = written;
                    }
                }
            }
            catch
            {
                await pipe.CancelAsync();
                throw;
            }
        }, CancellationToken.None);
        Exception? readError = null;
        try
        {
            using var stall = CancellationTokenSource.CreateLinkedTokenSource(pipe.Token);
            long received = offset;
            while (true)
            {
                byte[] buffer = await free.Reader.ReadAsync(pipe.Token);
                stall.CancelAfter(transfer.StallTimeout);
                int n = await body.ReadAsync(buffer, stall.Token);
                if (n == 0) break;
                int keep = (int)Math.Min(n, file.Size - received);
                if (keep <= 0) throw new IOException($"the server sent more than {file.Size} bytes");
                received += keep;
                await filled.Writer.WriteAsync((buffer, keep), pipe.Token);
            }
        }
        catch (Exception e)
        {
            readError = e;
        }
        filled.Writer.TryComplete();
        try
        {
            await consumer;
        }
        catch
        {
            // A write that failed half-way leaves bytes the hash never saw: cut the file back to the hashed prefix.
            output.SetLength(written);
            throw;
        }
        finally
        {
            foreach (byte[] b in buffers) ArrayPool<byte>.Shared.Return(b);
        }
        if (readError is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(readError);
        return written;
    }

    const long WritebackChunk = 64L << 20;

    /// <summary>Starts writing a range of the file back to disk without waiting (Linux <c>sync_file_range</c>), so the
    /// fsync before the rename waits for the last chunk only instead of the whole file.</summary>
    static void StartWriteback(FileStream output, long offset, long length)
    {
        if (!OperatingSystem.IsLinux()) return;
        bool added = false;
        try
        {
            output.SafeFileHandle.DangerousAddRef(ref added);
            _ = SyncFileRange((int)output.SafeFileHandle.DangerousGetHandle(), offset, length, SyncFileRangeWrite);
        }
        finally
        {
            if (added) output.SafeFileHandle.DangerousRelease();
        }
    }

    const uint SyncFileRangeWrite = 2;

    [LibraryImport("libc", EntryPoint = "sync_file_range", SetLastError = true)]
    private static partial int SyncFileRange(int fd, long offset, long nbytes, uint flags);

    static IncrementalHash NewHash(HubFile file)
    {
        if (file.IsLfs) return IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
#pragma warning disable CA5350 // git names a blob by the sha1 of "blob {size}\0" + content: a name check, not security
        var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
#pragma warning restore CA5350
        h.AppendData(GitBlobHeader(file.Size));
        return h;
    }

    static byte[] GitBlobHeader(long size) => Encoding.ASCII.GetBytes($"blob {size.ToString(CultureInfo.InvariantCulture)}\0");

    static async Task HashPrefixAsync(FileStream output, IncrementalHash hash, long length, byte[] buffer, CancellationToken ct)
    {
        output.Position = 0;
        long left = length;
        while (left > 0)
        {
            int n = await output.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, left)), ct);
            if (n == 0) throw new IOException("the partial file shrank while it was read");
            hash.AppendData(buffer, 0, n);
            left -= n;
        }
    }
}
