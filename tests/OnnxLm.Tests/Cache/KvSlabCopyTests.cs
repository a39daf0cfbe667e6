using System.Runtime.InteropServices;
using OnnxLm.Engine.Cache;

namespace OnnxLm.Tests.Cache;

/// <summary>The streaming slab copy equals a plain copy on every path: aligned (streamed), misaligned (memcpy), ragged tails.</summary>
public class KvSlabCopyTests
{
    [Test]
    [Arguments(0, 0, 4096)]      // an fp32 slab (16 × 64): fully streamed
    [Arguments(0, 0, 2048 + 64)] // whole 256-byte groups, then a 64-byte tail
    [Arguments(0, 0, 4096 + 36)] // a tail that is not a whole vector: memcpy finishes it
    [Arguments(4, 0, 4096)]      // misaligned source: memcpy
    [Arguments(0, 8, 1000)]      // misaligned destination: memcpy
    [Arguments(0, 0, 0)]
    public async Task Copy_equals_the_source_and_writes_nothing_outside_the_range(int sourceOffset, int destinationOffset, int bytes)
    {
        var (equal, untouchedOutside) = CopyAndCheck(sourceOffset, destinationOffset, bytes);
        await Assert.That(equal).IsTrue();
        await Assert.That(untouchedOutside).IsTrue();
    }

    static unsafe (bool Equal, bool UntouchedOutside) CopyAndCheck(int sourceOffset, int destinationOffset, int bytes)
    {
        const int Guard = 128;
        byte* source = (byte*)NativeMemory.AlignedAlloc(8192, 64);
        byte* destination = (byte*)NativeMemory.AlignedAlloc(8192 + Guard, 64);
        try
        {
            new Random(bytes).NextBytes(new Span<byte>(source, 8192));
            new Span<byte>(destination, 8192 + Guard).Fill(0xEE);

            KvSlabCopy.Copy(source + sourceOffset, destination + destinationOffset, bytes);
            KvSlabCopy.Fence();

            bool equal = new Span<byte>(destination + destinationOffset, bytes).SequenceEqual(new Span<byte>(source + sourceOffset, bytes));
            bool untouched = new Span<byte>(destination + destinationOffset + bytes, Guard).IndexOfAnyExcept((byte)0xEE) < 0
                             && new Span<byte>(destination, destinationOffset).IndexOfAnyExcept((byte)0xEE) < 0;
            return (equal, untouched);
        }
        finally
        {
            NativeMemory.AlignedFree(source);
            NativeMemory.AlignedFree(destination);
        }
    }
}
