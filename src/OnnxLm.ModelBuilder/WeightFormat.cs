namespace OnnxLm.Builder;

/// <summary>How <see cref="ModelBuilder"/> stores the projection weights of a generated model.</summary>
public enum WeightFormat
{
    /// <summary>Plain float32 <c>MatMul</c> weights.</summary>
    Fp32,

    /// <summary>4-bit blockwise weights for <c>com.microsoft::MatMulNBits</c> (block 32, symmetric, zero point 8).</summary>
    Int4,
}
