using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace OnnxLm.Generators
{
    /// <summary>A source location without the SyntaxTree reference, so it can live in the cached model.</summary>
    internal sealed record LocationInfo(string FilePath, TextSpan Span, LinePositionSpan LineSpan)
    {
        public Location ToLocation() => Location.Create(FilePath, Span, LineSpan);

        public static LocationInfo? From(Location? location)
            => location is { IsInSource: true } ? new LocationInfo(location.SourceTree!.FilePath, location.SourceSpan, location.GetLineSpan().Span) : null;
    }
}
