using System.Text;

namespace OnnxLm.Tests.Hosting;

/// <summary>A write-only stream that collects UTF-8 lines (what the request log writes to stdout), so a test can wait for
/// the line a request produced: the server writes it after the response completed, so it may come a moment later.</summary>
internal sealed class LineSink : Stream
{
    readonly List<string> lines = [];
    readonly MemoryStream partial = new();
    readonly SemaphoreSlim written = new(0);

    public IReadOnlyList<string> Lines
    {
        get { lock (lines) return lines.ToArray(); }
    }

    public async Task<string> WaitForLineAsync(Func<string, bool> match, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while (true)
        {
            foreach (string line in Lines)
                if (match(line)) return line;
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero) throw new TimeoutException("no matching log line; got:\n" + string.Join("\n", Lines));
            await written.WaitAsync(left < TimeSpan.FromMilliseconds(200) ? left : TimeSpan.FromMilliseconds(200));
        }
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        lock (lines)
        {
            foreach (byte b in buffer)
            {
                if (b != (byte)'\n')
                {
                    partial.WriteByte(b);
                    continue;
                }
                lines.Add(Encoding.UTF8.GetString(partial.GetBuffer(), 0, (int)partial.Length));
                partial.SetLength(0);
            }
        }
        written.Release();
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
    public override void Flush() { }
    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
