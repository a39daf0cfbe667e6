using System.Collections.Generic;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace OnnxLm.Generators
{
    /// <summary>
    /// Turns a [JsonRequest] class symbol into a <see cref="RequestTypeModel"/>. Every decision that needs Roslyn symbols
    /// (member types, attribute arguments, accessibility) is made here, so the model is plain data. Any error diagnostic
    /// withholds the model: no half-generated parser that would fail the build with confusing errors.
    /// Targets are found by attribute name, never by namespace: the namespace of the <c>[JsonRequest]</c> attribute class
    /// found on a type is the support namespace, where [JsonField], [Unsupported] and the value types (Utf8Slice, …)
    /// live beside it, so moving or renaming that namespace keeps generation working.
    /// </summary>
    internal static class RequestModelParser
    {
        public const string JsonRequestAttributeName = "JsonRequestAttribute";

        /// <summary>Whether a class declaration carries an attribute spelled [JsonRequest] or [JsonRequestAttribute] (cheap, syntax only).</summary>
        public static bool HasJsonRequestSyntax(SyntaxNode node, CancellationToken _)
            => node is ClassDeclarationSyntax { AttributeLists.Count: > 0 } declaration && AttributeNames.Contain(declaration.AttributeLists, "JsonRequest");

        public static RequestTypeResult? Parse(GeneratorSyntaxContext context, CancellationToken cancellationToken)
        {
            var syntax = (ClassDeclarationSyntax)context.Node;
            if (context.SemanticModel.GetDeclaredSymbol(syntax, cancellationToken) is not INamedTypeSymbol type) return null;
            var request = type.GetAttributes().FirstOrDefault(static a => a.AttributeClass?.Name == JsonRequestAttributeName);
            if (request?.AttributeClass is null) return null;
            // A partial class declared in several parts is parsed once, from the part that carries the attribute.
            if (request.ApplicationSyntaxReference?.GetSyntax(cancellationToken).Parent?.Parent != syntax) return null;
            string support = NamespaceOf(request.AttributeClass);
            var diagnostics = new List<DiagnosticInfo>();
            var typeLocation = LocationInfo.From(syntax.Identifier.GetLocation());

            if (type.ContainingType is not null || type.IsGenericType || type.IsStatic || type.IsAbstract)
                diagnostics.Add(Diagnostic(GeneratorDiagnostics.BadTypeShape, typeLocation, type.Name));
            else if (!syntax.Modifiers.Any(SyntaxKind.PartialKeyword))
                diagnostics.Add(Diagnostic(GeneratorDiagnostics.NotPartial, typeLocation, type.Name));

            string ns = type.ContainingNamespace.IsGlobalNamespace ? "" : type.ContainingNamespace.ToDisplayString();
            var fields = new List<RequestFieldModel>();
            var names = new HashSet<string>();
            foreach (var member in type.GetMembers())
            {
                cancellationToken.ThrowIfCancellationRequested();
                var field = ParseMember(member, ns, support, diagnostics);
                if (field is null) continue;
                if (!names.Add(field.JsonName))
                    diagnostics.Add(Diagnostic(GeneratorDiagnostics.DuplicateName, LocationInfo.From(member.Locations.FirstOrDefault()), member.Name, field.JsonName));
                fields.Add(field);
            }
            if (fields.Count > 64)
                diagnostics.Add(Diagnostic(GeneratorDiagnostics.TooManyFields, typeLocation, type.Name, fields.Count.ToString(System.Globalization.CultureInfo.InvariantCulture)));

            var model = diagnostics.Count == 0
                ? new RequestTypeModel(ns, support, type.Name, (ns.Length == 0 ? "" : ns + ".") + type.Name + ".JsonParser.g.cs", new EquatableArray<RequestFieldModel>(fields.ToArray()))
                : null;
            return new RequestTypeResult(model, new EquatableArray<DiagnosticInfo>(diagnostics.ToArray()));
        }

        static string NamespaceOf(ISymbol symbol)
            => symbol.ContainingNamespace.IsGlobalNamespace ? "" : symbol.ContainingNamespace.ToDisplayString();

        static string Qualified(string support, string name) => support.Length == 0 ? name : support + "." + name;

        static RequestFieldModel? ParseMember(ISymbol member, string ns, string support, List<DiagnosticInfo> diagnostics)
        {
            AttributeData? fieldAttribute = null;
            string? unsupported = null;
            foreach (var attribute in member.GetAttributes())
            {
                string? name = attribute.AttributeClass?.ToDisplayString();
                if (name == Qualified(support, "JsonFieldAttribute")) fieldAttribute = attribute;
                else if (name == Qualified(support, "UnsupportedAttribute")) unsupported = attribute.ConstructorArguments.FirstOrDefault().Value as string ?? "is not supported";
            }
            if (fieldAttribute is null || fieldAttribute.ConstructorArguments.FirstOrDefault().Value is not string jsonName) return null;

            int maxLength = 0, maxItems = 0;
            bool required = false;
            foreach (var argument in fieldAttribute.NamedArguments)
            {
                switch (argument.Key)
                {
                    case "MaxLength": maxLength = argument.Value.Value is int l ? l : 0; break;
                    case "MaxItems": maxItems = argument.Value.Value is int n ? n : 0; break;
                    case "Required": required = argument.Value.Value is true; break;
                }
            }

            var location = LocationInfo.From(member.Locations.FirstOrDefault());
            ITypeSymbol? memberType;
            bool canSet, canGet;
            switch (member)
            {
                case IPropertySymbol property:
                    memberType = property.Type;
                    canSet = property.SetMethod is { IsInitOnly: false } && !property.IsStatic;
                    canGet = property.GetMethod is not null && !property.IsStatic && !property.IsIndexer;
                    break;
                case IFieldSymbol field:
                    memberType = field.Type;
                    canSet = !field.IsReadOnly && !field.IsConst && !field.IsStatic;
                    canGet = !field.IsStatic;
                    break;
                default:
                    return null;
            }

            if (!TryClassify(memberType, ns, support, out var kind, out bool isNullable, out string? nestedType))
            {
                diagnostics.Add(Diagnostic(GeneratorDiagnostics.UnsupportedMemberType, location, member.Name, memberType.ToDisplayString()));
                return null;
            }
            if (unsupported is not null && kind != FieldKind.Raw)
                diagnostics.Add(Diagnostic(GeneratorDiagnostics.UnsupportedNeedsRaw, location, member.Name));

            // Pooled kinds are filled in place (get is enough); value kinds are assigned.
            bool filledInPlace = kind is FieldKind.Strings or FieldKind.TextContent or FieldKind.TokenBias or FieldKind.Prompt or FieldKind.ObjectList;
            if (filledInPlace ? !canGet : !canSet)
                diagnostics.Add(Diagnostic(GeneratorDiagnostics.NotAssignable, location, member.Name, filledInPlace ? "read" : "assign (a non-init setter or a non-readonly field)"));

            return new RequestFieldModel(jsonName, member.Name, kind, isNullable, nestedType, maxLength, maxItems, required, unsupported);
        }

        static bool TryClassify(ITypeSymbol type, string ns, string support, out FieldKind kind, out bool isNullable, out string? nestedType)
        {
            nestedType = null;
            isNullable = false;
            if (type is INamedTypeSymbol { OriginalDefinition.SpecialType: SpecialType.System_Nullable_T } nullable)
            {
                type = nullable.TypeArguments[0];
                isNullable = true;
            }
            switch (type.SpecialType)
            {
                case SpecialType.System_Boolean: kind = FieldKind.Boolean; return true;
                case SpecialType.System_Int32: kind = FieldKind.Int32; return true;
                case SpecialType.System_Int64: kind = FieldKind.Int64; return true;
                case SpecialType.System_Single: kind = FieldKind.Single; return true;
                case SpecialType.System_Double: kind = FieldKind.Double; return true;
            }
            kind = default;
            if (isNullable || type is not INamedTypeSymbol named) return false;

            string local = NamespaceOf(named) == support ? named.MetadataName : "";
            switch (local)
            {
                case "Utf8Slice": kind = FieldKind.String; return true;
                case "Utf8SliceList": kind = FieldKind.Strings; return true;
                case "TextContent": kind = FieldKind.TextContent; return true;
                case "TokenBiasMap": kind = FieldKind.TokenBias; return true;
                case "PromptInput": kind = FieldKind.Prompt; return true;
                case "RawJson": kind = FieldKind.Raw; return true;
                case "PooledList`1":
                    if (named.TypeArguments[0] is not INamedTypeSymbol element || !IsGeneratedRequest(element)) return false;
                    kind = FieldKind.ObjectList;
                    nestedType = TypeName(element, ns);
                    return true;
            }
            if (!IsGeneratedRequest(named)) return false;
            kind = FieldKind.Object;
            nestedType = TypeName(named, ns);
            return true;
        }

        /// <summary>A [JsonRequest] class declared in this compilation, so its ReadObject is generated alongside.</summary>
        static bool IsGeneratedRequest(INamedTypeSymbol type)
            => type.TypeKind == TypeKind.Class
               && type.Locations.Any(static l => l.IsInSource)
               && type.GetAttributes().Any(static a => a.AttributeClass?.Name == JsonRequestAttributeName);

        /// <summary>The short name when the nested type shares the namespace (reads like hand-written code), else global::.</summary>
        static string TypeName(INamedTypeSymbol type, string ns)
        {
            string typeNs = type.ContainingNamespace.IsGlobalNamespace ? "" : type.ContainingNamespace.ToDisplayString();
            return typeNs == ns && type.ContainingType is null
                ? type.Name
                : type.WithNullableAnnotation(NullableAnnotation.NotAnnotated).ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat);
        }

        static DiagnosticInfo Diagnostic(DiagnosticDescriptor descriptor, LocationInfo? location, params string[] arguments)
            => new(descriptor, location, new EquatableArray<string>(arguments));
    }
}
