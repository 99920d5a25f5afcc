/*
 * Render Nextflow process tasks the way Nextflow would, without Nextflow: for one module (main.nf with one
 * process) and the values of its inputs, work out where each input file is staged, the task's command
 * (the `script:` or `stub:` block evaluated as Groovy with the inputs, `meta`, `task` and `task.ext.args`
 * bound) and the output declarations with their file patterns resolved. The tests run the command in a
 * folder laid out as staged and check the declared outputs appear (tests/test_nextflow_contract.py).
 *
 * Process sections are statement labels, which exist only in the syntax tree, so the module is parsed with
 * the Groovy compiler (to the CONVERSION phase) and each section's statements are cut from the source by
 * their positions, then evaluated: input/output declarations against small recording functions (val, path,
 * tuple, eval, ...), the script as the GString Nextflow would interpolate.
 *
 * Usage: java -cp groovy-4.x.jar groovy.ui.GroovyMain TaskRender.groovy REQUEST.json > RESULT.json
 * REQUEST: a list of tasks, each {module, section: "script"|"stub", inputs: [value per input declaration,
 * a list for a tuple], ext_args: source text or null, params: {...}, task: {...}}. A path value is a file
 * path or a list of them ([] for an optional input left empty). RESULT: one object per task (see render()).
 */

import groovy.json.JsonOutput
import groovy.json.JsonSlurper
import org.codehaus.groovy.ast.ModuleNode
import org.codehaus.groovy.ast.expr.ArgumentListExpression
import org.codehaus.groovy.ast.expr.ClosureExpression
import org.codehaus.groovy.ast.expr.MethodCallExpression
import org.codehaus.groovy.ast.stmt.BlockStatement
import org.codehaus.groovy.ast.stmt.ExpressionStatement
import org.codehaus.groovy.ast.stmt.Statement
import org.codehaus.groovy.control.CompilationUnit
import org.codehaus.groovy.control.CompilerConfiguration
import org.codehaus.groovy.control.Phases

/** An identifier in a declaration (the name of an input, an emit name, a topic). */
class Name {
    String name
    String toString() { name }
}

/** One declared input or output element: val(x), path(x, stageAs: ...), eval(cmd), ... */
class Decl {
    String kind
    Object value
    Map options
}

/** A staged input file: prints as its path inside the task folder, like a Nextflow Path. */
class StagedFile {
    String staged
    String source
    String getName() { staged.tokenize('/')[-1] }
    String getBaseName() { getName().contains('.') ? getName()[0..<getName().lastIndexOf('.')] : getName() }
    String getSimpleName() { getName().tokenize('.')[0] }
    String toString() { staged }
}

/** Several staged files: prints blank-separated, like Nextflow's list of input paths. */
class StagedList extends ArrayList {
    StagedList(Collection items) { super(items) }
    String toString() { join(' ') }
}

/** A Binding that answers unknown identifiers with a Name (for declarations) or fails (for scripts). */
class DeclarationBinding extends Binding {
    boolean strict
    DeclarationBinding(Map values, boolean strict) { super(values); this.strict = strict }
    Object getVariable(String name) {
        if (hasVariable(name)) {
            return super.getVariable(name)
        }
        if (strict) {
            throw new MissingPropertyException("No such variable: ${name}", name, null)
        }
        return new Name(name: name)
    }
}

/** The process block of the module: its name and its statements, grouped by section label. */
Map processSections(File module) {
    def config = new CompilerConfiguration()
    def unit = new CompilationUnit(config)
    unit.addSource(module)
    unit.compile(Phases.CONVERSION)
    ModuleNode ast = unit.AST.modules[0]
    List lines = module.text.readLines()
    for (Statement statement : ast.statementBlock.statements) {
        if (!(statement instanceof ExpressionStatement)) {
            continue
        }
        def call = statement.expression
        if (!(call instanceof MethodCallExpression) || call.methodAsString != 'process') {
            continue
        }
        def inner = ((ArgumentListExpression) call.arguments).expressions[0]
        def closure = ((ArgumentListExpression) inner.arguments).expressions[0] as ClosureExpression
        Map sections = [directives: []]
        String current = 'directives'
        for (Statement s : ((BlockStatement) closure.code).statements) {
            if (s.statementLabels) {
                current = s.statementLabels[0]
                sections[current] = sections[current] ?: []
            }
            sections[current] << sourceOf(lines, s)
        }
        return [name: inner.methodAsString, sections: sections.collectEntries { k, v -> [k, v.join('\n')] }]
    }
    throw new IllegalArgumentException("${module}: no process definition")
}

/** The source text of statement ``s`` (its label removed). */
String sourceOf(List lines, Statement s) {
    def first = s.lineNumber - 1
    def last = s.lastLineNumber - 1
    def chunk = (first..last).collect { i -> lines[i] }
    chunk[-1] = chunk[-1].substring(0, s.lastColumnNumber - 1)
    chunk[0] = chunk[0].substring(s.columnNumber - 1)
    return chunk.join('\n')
}

/** Input declarations as a list of [kind, name, stageAs] (a tuple gives a list of them). */
List declarations(String source, boolean outputs, Map context) {
    List found = []
    def record = { String kind, Object[] args ->
        Map options = args && args[0] instanceof Map ? args[0] as Map : [:]
        List rest = options ? args.toList().drop(1) : args.toList()
        return new Decl(kind: kind, value: rest ? rest[0] : null, options: options)
    }
    Map functions = [
        val  : { Object... a -> record('val', a) },
        path : { Object... a -> record('path', a) },
        file : { Object... a -> record('path', a) },
        env  : { Object... a -> record('env', a) },
        eval : { Object... a -> record('eval', a) },
        stdin: { Object... a -> record('stdin', a) },
        each : { Object... a -> record('each', a) },
        tuple: { Object... a ->
            Map options = a && a[0] instanceof Map ? a[0] as Map : [:]
            List items = options ? a.toList().drop(1) : a.toList()
            found << [kind: 'tuple', items: items, options: options]
            return null
        },
    ]
    if (outputs) {
        // emit and topic names are identifiers Nextflow reads from the syntax tree, never variables
        source = source.replaceAll(/\b(emit|topic):\s*(\w+)/, '$1: \'$2\'')
    }
    def binding = new DeclarationBinding(context + functions, false)
    // a declaration that is not a tuple is a call whose value is returned: collect those per line
    for (String statement : splitStatements(source)) {
        def value = new GroovyShell(binding).evaluate(statement)
        if (value instanceof Decl) {
            found << [kind: 'single', items: [value], options: value.options]
        }
    }
    return found
}

/** The statements of a section, one per top-level line group (declarations never span unbalanced lines). */
List splitStatements(String source) {
    List out = []
    StringBuilder current = new StringBuilder()
    int depth = 0
    for (String line : source.readLines()) {
        String code = line.replaceAll(/\/\/.*$/, '')
        if (!code.trim() && depth == 0) {
            continue
        }
        current << line << '\n'
        depth += code.count('(') + code.count('[') + code.count('{') - code.count(')') - code.count(']') - code.count('}')
        if (depth == 0) {
            out << current.toString()
            current = new StringBuilder()
        }
    }
    if (current.toString().trim()) {
        out << current.toString()
    }
    return out
}

/** Where Nextflow stages ``sources`` for an input declared with ``pattern`` (its stageAs or name). */
List stage(List sources, String pattern) {
    boolean single = sources.size() == 1
    List out = []
    sources.eachWithIndex { String source, int i ->
        String name = new File(source).name
        if (!pattern || pattern == '*') {
            out << name
            return
        }
        if (!pattern.contains('*') && !pattern.contains('?')) {
            if (!single) {
                throw new IllegalArgumentException("stageAs '${pattern}' without a wildcard for ${sources.size()} files")
            }
            out << pattern
            return
        }
        List parts = pattern.tokenize('/')
        String filePart = parts[-1]
        List dirs = parts.size() > 1 ? parts[0..-2] : []
        String index = "${i + 1}"
        def expand = { String part, boolean isFile ->
            if (isFile && part == '*') {
                return name
            }
            String result = part.replaceAll(/\?+/) { String q -> index.padLeft(q.length(), '0') }
            return result.replace('*', single && isFile ? '' : index)
        }
        out << (dirs.collect { d -> expand(d, false) } + [expand(filePart, true)]).join('/')
    }
    return out
}

/** Render one task (see the header). */
Map render(Map request) {
    File module = new File(request.module)
    Map process = processSections(module)
    Map sections = process.sections
    List inputDecls = declarations(sections.input ?: '', false, [:])
    List values = request.inputs ?: []
    if (values.size() != inputDecls.size()) {
        throw new IllegalArgumentException("${module}: ${inputDecls.size()} input declarations, ${values.size()} values given")
    }
    Map bound = [:]
    List staging = []
    List inputs = []
    inputDecls.eachWithIndex { decl, int i ->
        List items = decl.items
        List given = decl.kind == 'tuple' ? values[i] : [values[i]]
        if (given.size() != items.size()) {
            throw new IllegalArgumentException("${module}: input ${i + 1} has ${items.size()} elements, ${given.size()} values given")
        }
        items.eachWithIndex { item, int j ->
            String name = item.value.toString()
            def value = given[j]
            if (item.kind == 'path') {
                List sources = value instanceof List ? value : [value]
                String pattern = item.options.stageAs ?: (item.value instanceof Name ? null : item.value.toString())
                List names = stage(sources as List<String>, pattern)
                List files = [sources, names].transpose().collect { s, n -> new StagedFile(staged: n, source: s) }
                files.each { f -> staging << [f.source, f.staged] }
                bound[name] = value instanceof List ? new StagedList(files) : files[0]
                inputs << [name: name, kind: 'path', staged: names]
            } else {
                bound[name] = value
                inputs << [name: name, kind: item.kind]
            }
        }
    }
    Map task = (request.task ?: [:]) + [process: process.name]
    Map params = request.params ?: [:]
    Map context = bound + [task: task, params: params]
    // task.ext.args: a closure from conf/modules.config runs in the task's context, like in Nextflow
    def extArgs = request.ext_args
    if (extArgs != null && extArgs.toString().trim().startsWith('{')) {
        def closure = new GroovyShell(new DeclarationBinding(context, true)).evaluate('return ' + extArgs.toString())
        extArgs = closure.call()?.toString()
    }
    task.ext = [args: extArgs]
    context.task = task

    // directives that depend on the task: tag and labels
    Map directives = [labels: []]
    Map directiveFunctions = [
        tag  : { Object v -> directives.tag = v.toString() },
        label: { Object v -> directives.labels << v.toString() },
        conda: { Object v -> directives.conda = v.toString() },
        container: { Object v -> directives.container = v.toString() },
        moduleDir: module.parentFile.path,
    ]
    new GroovyShell(new DeclarationBinding(context + directiveFunctions, true)).evaluate(sections.directives ?: '')

    List outputDecls = declarations(sections.output ?: '', true, context)
    List outputs = outputDecls.collect { decl ->
        [emit     : decl.options.emit?.toString(),
         topic    : decl.options.topic?.toString(),
         optional : decl.options.optional ?: false,
         paths    : decl.items.findAll { it.kind == 'path' }.collect { it.value.toString() },
         evals    : decl.items.findAll { it.kind == 'eval' }.collect { it.value.toString() },
         kinds    : decl.items.collect { it.kind }]
    }

    String section = request.section ?: 'script'
    if (!sections[section]) {
        throw new IllegalArgumentException("${module}: no ${section}: block")
    }
    def command = new GroovyShell(new DeclarationBinding(context, true)).evaluate(sections[section])
    return [process: process.name, directives: directives, inputs: inputs, staging: staging,
            ext_args: extArgs, command: command.toString().stripIndent(), outputs: outputs,
            sections: sections.keySet() as List]
}

/**
 * Call a function defined in a .nf file (request {function_file, call, args}); {"__file__": path} arguments
 * become files. Only the file's top-level `def` functions are loaded, so they must not need Nextflow.
 */
Map callFunction(Map request) {
    File source = new File(request.function_file)
    def unit = new CompilationUnit(new CompilerConfiguration())
    unit.addSource(source)
    unit.compile(Phases.CONVERSION)
    List lines = source.text.readLines()
    String functions = unit.AST.modules[0].methods.collect { method ->
        (method.lineNumber..method.lastLineNumber).collect { i -> lines[i - 1] }.join('\n')
    }.join('\n\n')
    def toValue
    toValue = { value ->
        if (value instanceof Map && value.containsKey('__file__')) {
            return new File(value.__file__ as String)
        }
        if (value instanceof List) {
            return value.collect { v -> toValue(v) }
        }
        if (value instanceof Map) {
            return value.collectEntries { k, v -> [k, toValue(v)] }
        }
        return value
    }
    def binding = new Binding([__args: toValue(request.args ?: [])])
    def result = new GroovyShell(binding).evaluate(functions + "\n\nreturn ${request.call}(*__args)")
    return [result: result]
}

List requests = new JsonSlurper().parse(new File(args[0])) as List
List results = requests.collect { request ->
    try {
        return request.function_file ? callFunction(request as Map) : render(request as Map)
    } catch (Exception err) {
        return [error: "${err.class.simpleName}: ${err.message}".toString()]
    }
}
println(JsonOutput.prettyPrint(JsonOutput.toJson(results)))
