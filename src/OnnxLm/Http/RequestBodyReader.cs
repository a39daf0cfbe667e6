using System.Buffers;

namespace OnnxLm.Http;

/// <summary>
/// Reads a JSON request body into one pooled buffer, refusing a wrong Content-Type (415) and anything over the size
/// limit (413) before and while reading, so a client can never make the server buffer more than the limit.
/// </summary>
internal static class RequestBodyReader
{
    const int InitialSize = 16 * 1024;

    public static async Task<RentedBody> ReadAsync(HttpRequest request, long maxBytes, CancellationToken ct)
    {
        if (request.ContentType is not { } type || !type.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
            throw new ApiError(415, "Content-Type must be application/json", "invalid_request_error", null, "unsupported_media_type");
        if (request.ContentLength > maxBytes) throw TooLarge(maxBytes);
        int size = request.ContentLength is long n ? (int)Math.Max(1, n + 1) : InitialSize;
        var buffer = ArrayPool<byte>.Shared.Rent(size);
        int length = 0;
        try
        {
            var body = request.Body;
            while (true)
            {
                if (length == buffer.Length)
                {
                    if (length > maxBytes) throw TooLarge(maxBytes);
                    var bigger = ArrayPool<byte>.Shared.Rent((int)Math.Min((long)buffer.Length * 2, maxBytes + 1));
                    buffer.AsSpan(0, length).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                }
                int read = await body.ReadAsync(buffer.AsMemory(length), ct);
                if (read == 0) break;
                length += read;
                if (length > maxBytes) throw TooLarge(maxBytes);
            }
            return new RentedBody(buffer, length);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
    }

    static ApiError TooLarge(long maxBytes) =>
        new(413, $"The request body exceeds the limit of {maxBytes} bytes.", "invalid_request_error", null, "request_too_large");
}
