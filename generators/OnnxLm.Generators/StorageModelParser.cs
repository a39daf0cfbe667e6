using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace OnnxLm.Generators
{
    /// <summary>
    /// Turns a [StructOfArrays] record symbol into a <see cref="StorageModel"/>. Every decision that needs Roslyn symbols
    /// (field types, constant initializers, attribute arguments) is made here, so the model is plain data. Any error
    /// withholds the model: no half-generated storage that would fail the build with confusing errors.
    /// Targets are found by attribute name, never by namespace: [SpanColumn] is looked for beside the [StructOfArrays]
    /// attribute class found on the type, so moving or renaming that namespace keeps generation working.
    /// </summary>
    internal static class StorageModelParser
    {
        public const string StructOfArraysAttributeName = "StructOfArraysAttribute";

        /// <summary>Whether a struct declaration carries an attribute spelled [StructOfArrays] (cheap, syntax only).</summary>
        public static bool HasStructOfArraysSyntax(SyntaxNode node, CancellationToken _)
            => node is TypeDeclarationSyntax { AttributeLists.Count: > 0 } declaration && AttributeNames.Contain(declaration.AttributeLists, "StructOfArrays");

        /// <summary>Members every storage class has; a field may not take these names.</summary>
        static readonly string[] FixedMembers = { "Capacity", "Reset", "CheckIndex" };

        public static StorageResult? Parse(GeneratorSyntaxContext context, CancellationToken cancellationToken)
        {
            var syntax = (TypeDeclarationSyntax)context.Node;
            if (context.SemanticModel.GetDeclaredSymbol(syntax, cancellationToken) is not INamedTypeSymbol type) return null;
            var storage = type.GetAttributes().FirstOrDefault(static a => a.AttributeClass?.Name == StructOfArraysAttributeName);
            if (storage?.AttributeClass is null) return null;
            // A partial type declared in several parts is parsed once, from the part that carries the attribute.
            if (storage.ApplicationSyntaxReference?.GetSyntax(cancellationToken).Parent?.Parent != syntax) return null;
            var ns0 = storage.AttributeClass.ContainingNamespace;
            string spanColumnAttribute = (ns0.IsGlobalNamespace ? "" : ns0.ToDisplayString() + ".") + "SpanColumnAttribute";
            var diagnostics = new List<DiagnosticInfo>();
            var typeLocation = LocationInfo.From(syntax.Identifier.GetLocation());

            if (type.TypeKind != TypeKind.Struct || type.IsRecord || type.ContainingType is not null || type.IsGenericType)
                diagnostics.Add(Diagnostic(StructOfArraysDiagnostics.BadTypeShape, typeLocation, type.Name));
            else if (!syntax.Modifiers.Any(SyntaxKind.PartialKeyword))
                diagnostics.Add(Diagnostic(StructOfArraysDiagnostics.NotPartial, typeLocation, type.Name));

            string storageName = storage.ConstructorArguments.FirstOrDefault().Value as string ?? "";
            if (!SyntaxFacts.IsValidIdentifier(storageName) || SyntaxFacts.GetKeywordKind(storageName) != SyntaxKind.None || storageName == type.Name)
                diagnostics.Add(Diagnostic(StructOfArraysDiagnostics.BadStorageName, typeLocation, storageName, type.Name));

            // Generated member names, to catch a field whose accessor would clash with another generated member.
            var taken = new HashSet<string>(FixedMembers, StringComparer.Ordinal) { storageName };
            var columns = new List<ColumnModel>();
            foreach (var member in type.GetMembers())
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (member.IsStatic || member.IsImplicitlyDeclared) continue;
                var location = LocationInfo.From(member.Locations.FirstOrDefault());
                if (member is IPropertySymbol { IsIndexer: false })
                {
                    diagnostics.Add(Diagnostic(StructOfArraysDiagnostics.NotAField, location, member.Name));
                    continue;
                }
                if (member is not IFieldSymbol field || field.IsConst) continue;
                var column = ParseField(field, spanColumnAttribute, context.SemanticModel.Compilation, location, diagnostics, cancellationToken);
                if (column is null) continue;
                foreach (string generated in GeneratedNames(column))
                    if (!taken.Add(generated))
                        diagnostics.Add(Diagnostic(StructOfArraysDiagnostics.ReservedName, location, field.Name, generated));
                columns.Add(column);
            }
            if (columns.Count == 0 && diagnostics.Count == 0)
                diagnostics.Add(Diagnostic(StructOfArraysDiagnostics.NoFields, typeLocation, type.Name));

            string ns = type.ContainingNamespace.IsGlobalNamespace ? "" : type.ContainingNamespace.ToDisplayString();
            var model = diagnostics.Count == 0
                ? new StorageModel(
                    ns, type.Name, storageName,
                    type.DeclaredAccessibility == Accessibility.Public ? "public" : "internal",
                    (ns.Length == 0 ? "" : ns + ".") + storageName + ".g.cs",
                    new EquatableArray<ColumnModel>(columns.ToArray()))
                : null;
            return new StorageResult(model, new EquatableArray<DiagnosticInfo>(diagnostics.ToArray()));
        }

        static ColumnModel? ParseField(IFieldSymbol field, string spanColumnAttribute, Compilation compilation, LocationInfo? location, List<DiagnosticInfo> diagnostics, CancellationToken cancellationToken)
        {
            bool spanColumn = field.GetAttributes().Any(a => a.AttributeClass?.ToDisplayString() == spanColumnAttribute);
            ITypeSymbol element = field.Type;
            if (spanColumn)
                element = field.Type is IArrayTypeSymbol { Rank: 1 } array ? array.ElementType : field.Type;
            bool supported = (spanColumn ? field.Type is IArrayTypeSymbol { Rank: 1 } : field.Type.IsValueType)
                             && element.IsUnmanagedType
                             && element.TypeKind is not (TypeKind.Pointer or TypeKind.FunctionPointer);
            if (!supported)
            {
                diagnostics.Add(Diagnostic(StructOfArraysDiagnostics.UnsupportedFieldType, location, field.Name, field.Type.ToDisplayString()));
                return null;
            }

            string? defaultLiteral = null;
            foreach (var reference in field.DeclaringSyntaxReferences)
            {
                if (reference.GetSyntax(cancellationToken) is not VariableDeclaratorSyntax { Initializer: { } initializer }) continue;
                var constant = compilation.GetSemanticModel(initializer.SyntaxTree).GetConstantValue(initializer.Value, cancellationToken);
                if (spanColumn || !constant.HasValue)
                {
                    diagnostics.Add(Diagnostic(StructOfArraysDiagnostics.NonConstantDefault, location, field.Name));
                    return null;
                }
                defaultLiteral = Literal(constant.Value, element);
            }
            return new ColumnModel(field.Name, element.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat), spanColumn, defaultLiteral);
        }

        /// <summary>Every name the emitter derives from a column: accessor, column property, backing field, span length.</summary>
        internal static IEnumerable<string> GeneratedNames(ColumnModel column)
        {
            yield return column.Name;
            yield return column.Name + "Column";
            yield return BackingField(column.Name);
            if (column.IsSpan) yield return column.Name + "Length";
        }

        internal static string BackingField(string name) => "_" + char.ToLowerInvariant(name[0]) + name.Substring(1);

        /// <summary>The constant as a C# literal of <paramref name="type"/>, or null when it equals default(T).</summary>
        static string? Literal(object? value, ITypeSymbol type)
        {
            if (value is null) return null;
            if (type.TypeKind == TypeKind.Enum)
            {
                string underlying = Convert.ToString(value, CultureInfo.InvariantCulture)!;
                return underlying == "0" ? null : "(" + type.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat) + ")(" + underlying + ")";
            }
            switch (value)
            {
                case bool b: return b ? "true" : null;
                case int i: return i == 0 ? null : i.ToString(CultureInfo.InvariantCulture);
                case long l: return l == 0 ? null : l.ToString(CultureInfo.InvariantCulture) + "L";
                case uint u: return u == 0 ? null : u.ToString(CultureInfo.InvariantCulture) + "U";
                case ulong ul: return ul == 0 ? null : ul.ToString(CultureInfo.InvariantCulture) + "UL";
                case float f: return BitConverter.DoubleToInt64Bits(f) == 0 ? null : FloatLiteral(f, "float", "F");
                case double d: return BitConverter.DoubleToInt64Bits(d) == 0 ? null : FloatLiteral(d, "double", "D");
                case char c: return c == '\0' ? null : SymbolDisplay.FormatLiteral(c, quote: true);
                case decimal m: return m == 0 ? null : m.ToString(CultureInfo.InvariantCulture) + "M";
            }
            // byte, sbyte, short, ushort, nint, nuint: no literal suffix exists, so a cast spells out the type.
            string text = Convert.ToString(value, CultureInfo.InvariantCulture)!;
            return text == "0" ? null : "(" + type.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat) + ")" + (text[0] == '-' ? "(" + text + ")" : text);
        }

        static string FloatLiteral(double value, string keyword, string suffix)
        {
            if (double.IsNaN(value)) return keyword + ".NaN";
            if (double.IsPositiveInfinity(value)) return keyword + ".PositiveInfinity";
            if (double.IsNegativeInfinity(value)) return keyword + ".NegativeInfinity";
            string text = keyword == "float" ? ((float)value).ToString("R", CultureInfo.InvariantCulture) : value.ToString("R", CultureInfo.InvariantCulture);
            return text + suffix;
        }

        static DiagnosticInfo Diagnostic(DiagnosticDescriptor descriptor, LocationInfo? location, params string[] arguments)
            => new(descriptor, location, new EquatableArray<string>(arguments));
    }
}
