namespace OnnxLm.Engine.Scheduling;

/// <summary>How many leading blocks of a prompt's chain past RAM a tier read staged: first from the SSD tier, then the
/// ones after them from the remote tier; together a contiguous run.</summary>
internal readonly record struct TierReadResult(int SsdBlocks, int RemoteBlocks)
{
    public int Blocks => SsdBlocks + RemoteBlocks;
}
