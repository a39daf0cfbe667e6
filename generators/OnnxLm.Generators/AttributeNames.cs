using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace OnnxLm.Generators
{
    /// <summary>
    /// The syntax-only first filter of the generators: does a declaration carry an attribute with this name, however
    /// qualified (<c>[X]</c>, <c>[XAttribute]</c>, <c>[Some.Namespace.X]</c>)? The namespace is deliberately not looked
    /// at, so renaming the namespace that declares the attributes cannot silently stop generation; the semantic step then
    /// checks the attribute class's name.
    /// </summary>
    internal static class AttributeNames
    {
        public static bool Contain(SyntaxList<AttributeListSyntax> lists, string shortName)
        {
            foreach (var list in lists)
                foreach (var attribute in list.Attributes)
                {
                    string name = Rightmost(attribute.Name);
                    if (name == shortName || name == shortName + "Attribute") return true;
                }
            return false;
        }

        static string Rightmost(NameSyntax name) => name switch
        {
            QualifiedNameSyntax qualified => qualified.Right.Identifier.ValueText,
            AliasQualifiedNameSyntax alias => alias.Name.Identifier.ValueText,
            SimpleNameSyntax simple => simple.Identifier.ValueText,
            _ => "",
        };
    }
}
