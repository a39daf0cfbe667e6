using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;

namespace OnnxLm.Builder;

/// <summary>
/// Turns weight bytes into initializers: inline <c>raw_data</c>, or appended to the external-data file with
/// <c>location/offset/length</c> entries. Invariant: external offsets are aligned (64 KiB for large tensors, so ORT
/// can memory-map them) and the file is written strictly in call order, so equal inputs give equal bytes.
/// </summary>
internal sealed class WeightStore
{
    private const long LargeTensorBytes = 64 << 10;
    private const int LargeAlignment = 64 << 10;
    private const int SmallAlignment = 64;

    private readonly Stream? external;
    private readonly string location;

    /// <param name="external">Where external data goes, or null to keep all weights inline.</param>
    /// <param name="location">The data file's name relative to model.onnx.</param>
    public WeightStore(Stream? external, string location)
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("ONNX raw_data is little-endian.");
        this.external = external;
        this.location = location;
    }

    public TensorProto Add<T>(string name, TensorProto.Types.DataType type, ReadOnlySpan<long> dims, ReadOnlySpan<T> values)
        where T : unmanaged
    {
        var bytes = MemoryMarshal.AsBytes(values);
        var tensor = new TensorProto { Name = name, DataType = (int)type };
        foreach (long d in dims)
            tensor.Dims.Add(d);

        if (external is null)
        {
            tensor.RawData = ByteString.CopyFrom(bytes);
            return tensor;
        }

        int alignment = bytes.Length >= LargeTensorBytes ? LargeAlignment : SmallAlignment;
        long offset = (external.Position + alignment - 1) / alignment * alignment;
        Span<byte> zeros = stackalloc byte[256];
        zeros.Clear();
        while (external.Position < offset)
            external.Write(zeros[..(int)Math.Min(zeros.Length, offset - external.Position)]);
        external.Write(bytes);

        tensor.DataLocation = TensorProto.Types.DataLocation.External;
        tensor.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = location });
        tensor.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = offset.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        tensor.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = bytes.Length.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        return tensor;
    }

    /// <summary>A small constant, always inline (shape helpers such as ReduceSum axes).</summary>
    public static TensorProto Constant<T>(string name, TensorProto.Types.DataType type, ReadOnlySpan<long> dims, ReadOnlySpan<T> values)
        where T : unmanaged
    {
        var tensor = new TensorProto { Name = name, DataType = (int)type, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values)) };
        foreach (long d in dims)
            tensor.Dims.Add(d);
        return tensor;
    }
}
