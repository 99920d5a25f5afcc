/*
 * Syntax check for Nextflow scripts (.nf, .nf.test) and configs (.config) without Nextflow.
 *
 * Nextflow's classic parser is the Groovy parser plus AST transforms that run after parsing, so every
 * file Nextflow accepts must first be valid Groovy. This harness runs the Groovy 4 compiler on each file
 * up to the CONVERSION phase (source -> concrete syntax tree -> AST): nothing is resolved, compiled to
 * bytecode or executed. Nextflow constructs parse as ordinary Groovy:
 *   process FOO { ... }                a command call: process(FOO({ ... }))
 *   input: / output: / emit:           statement labels
 *   tuple val(meta), path(x), emit: y  a command call with a named argument
 *   withName: 'FOO' { ... }            a label on a call of the method named 'FOO' with a closure
 *   include { A; B as C } from './x'   a command chain: include({ ... }).from('./x')
 *
 * Build: javac -cp groovy-4.x.jar -d OUT ParseCheck.java
 * Usage: java -cp groovy-4.x.jar:OUT ParseCheck FILE...
 * Prints one "path:line:column: message" line per error on stderr; exit status 1 when any file fails.
 * The parser's error recovery often reports an unclosed bracket at the start of the enclosing block, so
 * a failing file is also scanned with Groovy's own lexer for its first unbalanced bracket ("hint").
 */

import groovyjarjarantlr4.v4.runtime.CharStreams;
import groovyjarjarantlr4.v4.runtime.Token;
import groovyjarjarantlr4.v4.runtime.Vocabulary;
import org.apache.groovy.parser.antlr4.GroovyLangLexer;
import org.codehaus.groovy.control.CompilationUnit;
import org.codehaus.groovy.control.CompilerConfiguration;
import org.codehaus.groovy.control.MultipleCompilationErrorsException;
import org.codehaus.groovy.control.Phases;
import org.codehaus.groovy.control.messages.ExceptionMessage;
import org.codehaus.groovy.control.messages.Message;
import org.codehaus.groovy.control.messages.SyntaxErrorMessage;
import org.codehaus.groovy.syntax.SyntaxException;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.Map;

public final class ParseCheck {

    private static final Map<String, String> CLOSES = Map.of("RPAREN", "LPAREN", "RBRACK", "LBRACK", "RBRACE", "LBRACE");
    private static final Map<String, String> SHOWN = Map.of(
        "LPAREN", "(", "LBRACK", "[", "LBRACE", "{", "RPAREN", ")", "RBRACK", "]", "RBRACE", "}");

    private ParseCheck() {
    }

    /** The first unbalanced bracket of {@code text} as "line:column: message", or null. */
    static String firstUnbalanced(String text) {
        List<? extends Token> tokens;
        Vocabulary vocabulary;
        try {
            GroovyLangLexer lexer = new GroovyLangLexer(CharStreams.fromString(text));
            lexer.removeErrorListeners();
            vocabulary = lexer.getVocabulary();
            tokens = lexer.getAllTokens();
        } catch (Throwable err) {  // the lexer reports errors as GroovySyntaxError, an AssertionError
            return null;  // a lexical error (e.g. an unterminated string): the parser's message locates it
        }
        Deque<Token> open = new ArrayDeque<>();
        for (Token token : tokens) {
            String type = vocabulary.getSymbolicName(token.getType());
            if (type == null) {
                continue;
            }
            if (CLOSES.containsValue(type)) {
                open.push(token);
            } else if (CLOSES.containsKey(type)) {
                String where = token.getLine() + ":" + (token.getCharPositionInLine() + 1) + ": ";
                if (open.isEmpty()) {
                    return where + "'" + SHOWN.get(type) + "' closes nothing";
                }
                Token start = open.pop();
                String startType = vocabulary.getSymbolicName(start.getType());
                if (!startType.equals(CLOSES.get(type))) {
                    return where + "'" + SHOWN.get(type) + "' closes the '" + SHOWN.get(startType)
                        + "' opened at line " + start.getLine();
                }
            }
        }
        if (!open.isEmpty()) {
            Token start = open.peek();
            return start.getLine() + ":" + (start.getCharPositionInLine() + 1) + ": '"
                + SHOWN.get(vocabulary.getSymbolicName(start.getType())) + "' is never closed";
        }
        return null;
    }

    /** Parse {@code file} to the CONVERSION phase; print its errors; return true when it parses. */
    static boolean parses(File file) throws IOException {
        CompilerConfiguration config = new CompilerConfiguration();
        config.setTolerance(0);
        CompilationUnit unit = new CompilationUnit(config);
        unit.addSource(file);
        try {
            unit.compile(Phases.CONVERSION);
            return true;
        } catch (MultipleCompilationErrorsException err) {
            for (Message message : err.getErrorCollector().getErrors()) {
                if (message instanceof SyntaxErrorMessage) {
                    SyntaxException cause = ((SyntaxErrorMessage) message).getCause();
                    System.err.println(file.getPath() + ":" + cause.getLine() + ":" + cause.getStartColumn() + ": "
                        + cause.getOriginalMessage());
                } else if (message instanceof ExceptionMessage) {
                    System.err.println(file.getPath() + ":0:0: " + ((ExceptionMessage) message).getCause());
                } else {
                    System.err.println(file.getPath() + ":0:0: " + message);
                }
            }
            String hint = firstUnbalanced(Files.readString(file.toPath(), StandardCharsets.UTF_8));
            if (hint != null) {
                System.err.println(file.getPath() + ":" + hint.replaceFirst(": ", ": hint: "));
            }
            return false;
        }
    }

    public static void main(String[] args) throws IOException {
        if (args.length == 0) {
            System.err.println("usage: java ParseCheck FILE...");
            System.exit(2);
        }
        int failed = 0;
        for (String name : args) {
            File file = new File(name);
            if (!file.isFile()) {
                System.err.println(name + ":0:0: no such file");
                failed++;
            } else if (!parses(file)) {
                failed++;
            }
        }
        System.out.println((args.length - failed) + " of " + args.length + " files parse");
        System.exit(failed == 0 ? 0 : 1);
    }
}
