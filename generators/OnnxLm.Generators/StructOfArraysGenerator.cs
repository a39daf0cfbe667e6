using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace OnnxLm.Generators
{
    /// <summary>
    /// Emits struct-of-arrays storage for every [StructOfArrays] partial struct.
    /// Pipeline: attribute lookup → <see cref="StorageModelParser"/> (symbols → equatable model + diagnostics) →
    /// <see cref="StorageSourceEmitter"/> (model → source). Only the model crosses steps, so edits that do not change a
    /// record's fields leave every step cached.
    /// </summary>
    [Generator(LanguageNames.CSharp)]
    public sealed class StructOfArraysGenerator : IIncrementalGenerator
    {
        public void Initialize(IncrementalGeneratorInitializationContext context)
        {
            var results = context.SyntaxProvider
                .ForAttributeWithMetadataName(
                    StorageModelParser.StructOfArraysAttribute,
                    static (node, _) => node is TypeDeclarationSyntax,
                    static (ctx, ct) => StorageModelParser.Parse(ctx, ct))
                .WithTrackingName(TrackingNames.StorageParse);

            var models = results
                .Select(static (result, _) => result.Model)
                .Where(static model => model is not null)
                .WithTrackingName(TrackingNames.StorageModels);

            var diagnostics = results
                .SelectMany(static (result, _) => result.Diagnostics)
                .WithTrackingName(TrackingNames.StorageDiagnostics);

            context.RegisterSourceOutput(models, static (spc, model) => spc.AddSource(model!.HintName, StorageSourceEmitter.Emit(model)));
            context.RegisterSourceOutput(diagnostics, static (spc, diagnostic) => spc.ReportDiagnostic(diagnostic.ToDiagnostic()));
        }
    }
}
