using System.Text;

namespace OnnxLm.Generators
{
    /// <summary>A StringBuilder that indents by four spaces per open block, so emitted code is laid out like hand-written code.</summary>
    internal sealed class CodeWriter
    {
        readonly StringBuilder _text = new StringBuilder();
        int _depth;

        public CodeWriter Line(string line = "")
        {
            if (line.Length != 0) _text.Append(' ', _depth * 4).Append(line);
            _text.Append('\n');
            return this;
        }

        public CodeWriter Open(string line)
        {
            Line(line);
            Line("{");
            _depth++;
            return this;
        }

        public CodeWriter Close(string closing = "}")
        {
            _depth--;
            return Line(closing);
        }

        public CodeWriter Indent()
        {
            _depth++;
            return this;
        }

        public CodeWriter Outdent()
        {
            _depth--;
            return this;
        }

        public override string ToString() => _text.ToString();
    }
}
