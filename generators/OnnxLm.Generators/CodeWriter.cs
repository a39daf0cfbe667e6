using System.Text;

namespace OnnxLm.Generators
{
    /// <summary>A StringBuilder that indents by four spaces per open block, so emitted code is laid out like hand-written code.</summary>
    internal sealed class CodeWriter
    {
        readonly StringBuilder text = new StringBuilder();
        int depth;

        public CodeWriter Line(string line = "")
        {
            if (line.Length != 0) text.Append(' ', depth * 4).Append(line);
            text.Append('\n');
            return this;
        }

        public CodeWriter Open(string line)
        {
            Line(line);
            Line("{");
            depth++;
            return this;
        }

        public CodeWriter Close(string closing = "}")
        {
            depth--;
            return Line(closing);
        }

        public CodeWriter Indent()
        {
            depth++;
            return this;
        }

        public CodeWriter Outdent()
        {
            depth--;
            return this;
        }

        public override string ToString() => text.ToString();
    }
}
