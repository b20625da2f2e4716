//! The parser's and evaluator's tests.
use super::*;
use chainrule::Graph;

fn err(src: &str) -> String {
    parse(src).unwrap_err().to_string()
}

#[test]
fn precedence_and_associativity() {
    let v = |s: &str| {
        parse(s)
            .unwrap()
            .eval(&HashMap::from([("x".to_string(), 3.0)]))
    };
    assert_eq!(v("1 + 2 * 3"), 7.0);
    assert_eq!(v("-x^2"), -9.0);
    assert_eq!(v("2^3^2"), 512.0);
    assert_eq!(v("2^-1"), 0.5);
    assert_eq!(v("(1 + 2) * 3"), 9.0);
    assert_eq!(v("8 / 4 / 2"), 1.0);
    assert_eq!(v("1 - 2 - 3"), -4.0);
    assert_eq!(v("--x"), 3.0);
    assert_eq!(v("1.5e1 + .5"), 15.5);
    assert_eq!(v("exp(0) + relu(-x)"), 1.0);
}

#[test]
fn errors_point_at_the_column() {
    assert_eq!(err("(x + 1))"), "unexpected ')' at column 8");
    assert_eq!(err("(x + )"), "unexpected ')' at column 6");
    assert_eq!(err("x + "), "unexpected end of the expression (expected a number, a variable, a function or '(') at column 5");
    assert!(err("(x + 1").starts_with("missing ')' for the '(' at column 1"));
    assert!(err("foo(x)").starts_with("unknown function 'foo'"));
    assert!(err("foo(x)").ends_with("at column 1"));
    assert_eq!(err("1.2.3 + x"), "bad number '1.2.3' at column 1");
    assert_eq!(err("x + 2e"), "bad number '2e' at column 5");
    assert!(err("2x").contains("write 2*x"));
    assert_eq!(err("x $ y"), "unexpected character '$' at column 3");
    assert_eq!(err("   "), "the expression is empty at column 1");
    assert!(err("exp + 1").contains("needs its argument in parentheses"));
    assert!(err(&"(".repeat(150)).contains("deeper than"));
    assert!(err(&"x+".repeat(5000)).contains("too long"));
}

#[test]
fn values_are_checked() {
    assert_eq!(
        parse_values("x=3, y=-2").unwrap(),
        vec![("x".to_string(), 3.0), ("y".to_string(), -2.0)]
    );
    assert!(parse_values("x").is_err());
    assert!(parse_values("x=abc").is_err());
    assert!(parse_values("x=1,x=2").is_err());
    assert!(parse_values("1x=1").is_err());
    let e = parse("x * y").unwrap();
    let missing = check_values(&e, &parse_values("x=1").unwrap()).unwrap_err();
    assert!(missing.to_string().contains("'y'"), "{missing}");
    assert!(check_values(&e, &parse_values("x=1,y=2,z=3").unwrap()).is_err());
}

#[test]
fn display_parses_back() {
    for s in ["(x + y) * (x - 1)", "-x^2 / sigmoid(y)", "2^-x - -3"] {
        // Equal up to the columns recorded for variables.
        let e = parse(s).unwrap();
        let again = parse(&e.to_string()).unwrap();
        assert_eq!(again.to_string(), e.to_string(), "{s}");
        let values = HashMap::from([("x".to_string(), 0.7), ("y".to_string(), -1.3)]);
        assert_eq!(again.eval(&values), e.eval(&values));
    }
}

#[test]
fn variables_are_one_leaf() {
    let g = Graph::<f64>::new();
    let e = parse("(x + y) * (x - 1)").unwrap();
    let r = record(&g, &e, &parse_values("x=3,y=2").unwrap()).unwrap();
    assert_eq!(r.output.item().unwrap(), 10.0);
    assert_eq!(r.variables.len(), 2);
    // x, y, x + y, x − 1, product.
    assert_eq!(g.len(), 5);
}
