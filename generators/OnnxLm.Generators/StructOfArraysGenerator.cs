using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace OnnxLm.Generators
{
    /// <summary>
    /// Emits struct-of-arrays storage for every [StructOfArrays] partial struct.
    /// Pipeline: attribute lookup by name, in any namespace (<see cref="AttributeNames"/>) → <see cref="StorageModelParser"/> (symbols → equatable model + diagnostics) →
    /// <see cref="StorageSourceEmitter"/> (model → source). Only the model crosses steps, so edits that do not change a
    /// record's fields leave every step cached.
    /// </summary>
    [Generator(LanguageNames.CSharp)]
    public sealed class StructOfArraysGenerator : IIncrementalGenerator
    {
        public void Initialize(IncrementalGeneratorInitializationContext context)
        {
            var results = context.SyntaxProvider
                .CreateSyntaxProvider(StorageModelParser.HasStructOfArraysSyntax, static (ctx, ct) => StorageModelParser.Parse(ctx, ct))
                .WithTrackingName(TrackingNames.StorageParse)
                .Where(static result => result is not null)
                .Select(static (result, _) => result!);

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
