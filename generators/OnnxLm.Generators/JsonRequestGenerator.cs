using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace OnnxLm.Generators
{
    /// <summary>
    /// Emits an allocation-free Utf8JsonReader parser for every [JsonRequest] partial class.
    /// Pipeline: attribute lookup by name, in any namespace (<see cref="AttributeNames"/>) → <see cref="RequestModelParser"/> (symbols → equatable model + diagnostics) →
    /// <see cref="RequestSourceEmitter"/> (model → source). Only the model crosses steps, so edits that do not change a
    /// declaration leave every step cached.
    /// </summary>
    [Generator(LanguageNames.CSharp)]
    public sealed class JsonRequestGenerator : IIncrementalGenerator
    {
        public void Initialize(IncrementalGeneratorInitializationContext context)
        {
            var results = context.SyntaxProvider
                .CreateSyntaxProvider(RequestModelParser.HasJsonRequestSyntax, static (ctx, ct) => RequestModelParser.Parse(ctx, ct))
                .WithTrackingName(TrackingNames.Parse)
                .Where(static result => result is not null)
                .Select(static (result, _) => result!);

            var models = results
                .Select(static (result, _) => result.Model)
                .Where(static model => model is not null)
                .WithTrackingName(TrackingNames.Models);

            var diagnostics = results
                .SelectMany(static (result, _) => result.Diagnostics)
                .WithTrackingName(TrackingNames.Diagnostics);

            context.RegisterSourceOutput(models, static (spc, model) => spc.AddSource(model!.HintName, RequestSourceEmitter.Emit(model)));
            context.RegisterSourceOutput(diagnostics, static (spc, diagnostic) => spc.ReportDiagnostic(diagnostic.ToDiagnostic()));
        }
    }
}
