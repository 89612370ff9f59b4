//! Unit tests of the expansion (snapshots) and of the checks trybuild cannot reach.

use proc_macro2::TokenStream;
use quote::quote;

use crate::expand::expand;

fn pretty(args: TokenStream, item: TokenStream) -> String {
    let out = expand(args, item).unwrap_or_else(|e| panic!("unexpected error: {e}"));
    let file = syn::parse2::<syn::File>(out).unwrap_or_else(|e| panic!("output is not items: {e}"));
    prettyplease::unparse(&file)
}

fn error(args: TokenStream, item: TokenStream) -> String {
    match expand(args, item) {
        Ok(out) => panic!("expected an error, got {out}"),
        Err(err) => err
            .into_iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// The expansion without whitespace or trailing commas, to look for a piece of it.
fn flat(out: &str) -> String {
    out.split_whitespace()
        .collect::<String>()
        .replace(",>", ">")
}

#[test]
fn expansion_of_two_ports_under_test() {
    insta::assert_snapshot!(pretty(
        quote!(2),
        quote! {
            #[test]
            fn two(ports: [u16; 2]) {
                start(ports);
            }
        },
    ));
}

#[test]
fn expansion_adds_test_attribute_and_passes_options() {
    insta::assert_snapshot!(pretty(
        quote!(1, hosts = ["localhost", "::1"], family = ipv6),
        quote! {
            /// Documented.
            fn one(port: u16) -> Result<(), std::io::Error> {
                Ok(())
            }
        },
    ));
}

#[test]
fn expansion_keeps_rstest_cases_and_async() {
    insta::assert_snapshot!(pretty(
        quote!(2),
        quote! {
            #[rstest::rstest]
            #[case(1)]
            #[tokio::test]
            async fn per_case(#[case] n: u32, ports: [u16; 2]) {
                serve(n, ports).await;
            }
        },
    ));
}

#[test]
fn test_attribute_is_added_only_when_missing() {
    for attr in [
        quote!(#[test]),
        quote!(#[tokio::test]),
        quote!(#[tokio::test(flavor = "multi_thread")]),
        quote!(#[async_std::test]),
        quote!(#[rstest]),
        quote!(#[rstest::rstest]),
    ] {
        let out = pretty(quote!(1), quote!(#attr fn t(port: u16) {}));
        assert!(
            !out.contains("prelude::v1::test"),
            "added #[test] despite {attr}:\n{out}"
        );
    }
    for attr in [
        quote!(#[ignore]),
        quote!(#[should_panic]),
        quote!(#[testing]),
    ] {
        let out = pretty(quote!(1), quote!(#attr fn t(port: u16) {}));
        assert!(
            out.contains("#[::core::prelude::v1::test]"),
            "no #[test] added with only {attr}:\n{out}"
        );
    }
}

#[test]
fn below_rstest_is_reported_with_the_ordering_rule() {
    // What #[with_ports] receives when #[rstest] sits above it: a generated case, whose
    // `ports` argument rstest already turned into a fixture.
    let msg = error(
        quote!(2),
        quote! {
            #[test]
            fn case_1() {
                let n = 1;
                let ports = ports::default();
                misplaced(n, ports)
            }
        },
    );
    assert!(
        msg.contains("has no parameter to receive the ports"),
        "{msg}"
    );
    assert!(msg.contains("must be placed above #[test]"), "{msg}");
}

#[test]
fn any_spelling_is_passed_to_the_compiler_as_written() {
    // The macro does not read the type: it converts through `ReceivePorts`, spelled as the
    // user wrote it, and the compiler decides.
    for ty in [
        quote!(u16),
        quote!(core::primitive::u16),
        quote!(net::SocketAddr),
        quote!(Ports),
        quote!(String),
    ] {
        let out = pretty(quote!(1), quote!(#[test] fn t(port: #ty) {}));
        let flat = flat(&out);
        let want = format!(
            "<{}as::allocport_core::__private::ReceivePorts<::allocport_core::__private::TcpPortOwner,1>>::receive(&mut__allocport_ports",
            ty.to_string().replace(' ', "")
        );
        assert!(flat.contains(&want), "{ty}: no {want} in\n{out}");
    }
}

#[test]
fn several_free_parameters_need_a_name() {
    // An rstest fixture and the ports: the one named `port` or `ports` is taken.
    let out = pretty(
        quote!(1),
        quote!(
            #[rstest]
            fn t(db: Db, port: Addr) {}
        ),
    );
    assert!(out.contains("fn t(db: Db)"), "{out}");
    let msg = error(
        quote!(1),
        quote!(
            #[rstest]
            fn t(db: Db, addr: Addr) {}
        ),
    );
    assert!(
        msg.contains("several parameters of `t` could receive the ports (db, addr)"),
        "{msg}"
    );
    let out = pretty(
        quote!(1, param = addr),
        quote!(
            #[rstest]
            fn t(db: Db, addr: Addr) {}
        ),
    );
    assert!(out.contains("fn t(db: Db)"), "{out}");
}

#[test]
fn parameters_claimed_by_other_attributes_are_not_taken() {
    // `#[case] p: u16` belongs to rstest even though it has the right type.
    let msg = error(
        quote!(1),
        quote!(
            #[rstest]
            #[case(0)]
            fn t(#[case] p: u16) {}
        ),
    );
    assert!(msg.contains("no parameter to receive"), "{msg}");
    let out = pretty(
        quote!(1),
        quote!(
            #[rstest]
            #[case(0)]
            fn t(#[case] p: u16, port: u16) {}
        ),
    );
    assert!(out.contains("fn t(#[case] p: u16)"), "{out}");
}

#[test]
fn non_literal_array_length_is_left_to_the_type_checker() {
    let out = pretty(
        quote!(2),
        quote!(
            #[test]
            fn t(ports: [u16; N]) {}
        ),
    );
    assert!(out.contains("let ports: [u16; N] ="), "{out}");
}

#[test]
fn garbage_arguments_are_errors_not_panics() {
    for args in [
        quote!(,),
        quote!(2,,),
        quote!(2 3),
        quote!(=),
        quote!(2, hosts =),
        quote!(2, hosts = [,]),
        quote!(2, family = ipv6::x),
        quote!(2, a::b = 1),
        quote!(2, param = ports.x),
        quote!(18446744073709551616),
    ] {
        let msg = error(
            args.clone(),
            quote!(
                #[test]
                fn t(ports: [u16; 2]) {}
            ),
        );
        assert!(!msg.is_empty(), "{args}");
    }
    let msg = error(quote!(2), quote!(fn));
    assert!(!msg.is_empty());
}

#[test]
fn fallback_is_a_plain_function_that_still_type_checks() {
    let out = crate::expand::fallback(quote! {
        /// Kept.
        #[rstest::rstest]
        #[case(1)]
        #[should_panic]
        #[allow(clippy::needless_return)]
        fn t(#[case] n: u32, ports: [u16; 2]) { body(n, ports) }
    });
    let file = syn::parse2::<syn::File>(out).unwrap();
    insta::assert_snapshot!(prettyplease::unparse(&file));
}

#[test]
fn fallback_leaves_other_items_alone() {
    let item = quote!(
        struct S;
    );
    assert_eq!(
        crate::expand::fallback(item.clone()).to_string(),
        item.to_string()
    );
}

#[test]
fn accepted_spellings_of_count_and_family() {
    let out = pretty(
        quote!(2usize, family = Ipv6),
        quote!(
            #[test]
            fn t(ports: [u16; 2]) {}
        ),
    );
    assert!(out.contains("AddressFamily::Ipv6"), "{out}");
    assert!(
        out.contains("        2,\n"),
        "the count is emitted unsuffixed:\n{out}"
    );
    // Every port PYSYS_PORTS can name, 1-65535: the largest count known at compile time.
    let out = pretty(
        quote!(65535),
        quote!(
            #[test]
            fn t(ports: [u16; 65535]) {}
        ),
    );
    assert!(out.contains("65535"), "{out}");
}

#[test]
fn count_above_65535_is_an_error_naming_the_bound() {
    let msg = error(
        quote!(65536),
        quote!(
            #[test]
            fn t(ports: [u16; 65536]) {}
        ),
    );
    assert!(
        msg.contains("#[with_ports(65536)]") && msg.contains("at most 65535 (ports 1-65535)"),
        "{msg}"
    );
}

#[test]
fn expansion_with_request_options_and_socket_addrs() {
    insta::assert_snapshot!(pretty(
        quote!(4, offsets = [0, 10000], strict),
        quote! {
            #[test]
            fn cluster(nodes: [std::net::SocketAddr; 4]) {
                start(nodes);
            }
        },
    ));
}

#[test]
fn expansion_of_an_exact_port_received_as_an_address() {
    insta::assert_snapshot!(pretty(
        quote!(1, exact = 6379, family = ipv6),
        quote! {
            fn fixed(addr: SocketAddr) {}
        },
    ));
}

#[test]
fn crate_option_moves_every_runtime_path() {
    for krate in [quote!(renamed), quote!(::renamed), quote!("renamed")] {
        let out = pretty(
            quote!(2, consecutive, crate = #krate),
            quote!(
                #[test]
                fn t(ports: [u16; 2]) {}
            ),
        );
        assert!(!out.contains("allocport_core"), "{krate}:\n{out}");
        assert!(out.contains("renamed::__private::ReceivePorts"), "{out}");
        assert!(out.contains("renamed::__private::TestOptions"), "{out}");
    }
    let msg = error(
        quote!(1, crate = 5),
        quote!(
            #[test]
            fn t(port: u16) {}
        ),
    );
    assert!(msg.contains("`crate` takes the path"), "{msg}");
    let msg = error(
        quote!(1, crate = "a b"),
        quote!(
            #[test]
            fn t(port: u16) {}
        ),
    );
    assert!(msg.contains("\"a b\" is not a path"), "{msg}");
}

#[test]
fn request_options_are_checked_against_each_other_and_n() {
    let msg = error(
        quote!(3, offsets = [0, 10000]),
        quote!(
            #[test]
            fn t(ports: [u16; 3]) {}
        ),
    );
    assert!(msg.contains("multiple of 2"), "{msg}");
    let msg = error(
        quote!(2, offsets = [0, 1], consecutive),
        quote!(
            #[test]
            fn t(ports: [u16; 2]) {}
        ),
    );
    assert!(msg.contains("use one"), "{msg}");
    let msg = error(
        quote!(2, exact = 6379),
        quote!(
            #[test]
            fn t(ports: [u16; 2]) {}
        ),
    );
    assert!(msg.contains("one group of 1 port"), "{msg}");
    let msg = error(
        quote!(1, exact = 70000),
        quote!(
            #[test]
            fn t(port: u16) {}
        ),
    );
    assert!(msg.contains("is not a port"), "{msg}");
    let msg = error(
        quote!(2, offsets = [0, 0]),
        quote!(
            #[test]
            fn t(ports: [u16; 2]) {}
        ),
    );
    assert!(msg.contains("given twice"), "{msg}");
    let msg = error(
        quote!(1, strict = true),
        quote!(
            #[test]
            fn t(port: u16) {}
        ),
    );
    assert!(msg.contains("takes no value"), "{msg}");
    let msg = error(
        quote!(1, strict, strict),
        quote!(
            #[test]
            fn t(port: u16) {}
        ),
    );
    assert!(msg.contains("more than once"), "{msg}");
}

#[test]
fn listen_and_udp_choose_the_runtime_call_and_bind_on_loopback_by_default() {
    let listen = pretty(
        quote!(2, listen),
        quote! {
            #[test]
            fn two(listeners: [std::net::TcpListener; 2]) {}
        },
    );
    assert!(listen.contains("__private::listen_for_test("), "{listen}");
    assert!(listen.contains(r#"&["localhost"]"#), "{listen}");

    let udp = pretty(
        quote!(1, udp),
        quote! {
            #[test]
            fn one(port: u16) {}
        },
    );
    assert!(udp.contains("__private::allocate_udp_for_test("), "{udp}");
    assert!(udp.contains("DEFAULT_HOSTS"), "{udp}");

    let socket = pretty(
        quote!(1, udp, listen),
        quote! {
            #[test]
            fn one(socket: UdpSocket) {}
        },
    );
    assert!(socket.contains("__private::bind_udp_for_test("), "{socket}");
}

#[test]
fn listen_and_udp_name_what_the_parameter_converts_from() {
    for (args, held) in [
        (quote!(1), "TcpPortOwner"),
        (quote!(1, udp), "UdpPortOwner"),
        (quote!(1, listen), "HeldTcpListener"),
        (quote!(1, udp, listen), "HeldUdpSocket"),
    ] {
        let out = pretty(
            args,
            quote!(
                #[test]
                fn t(p: T) {}
            ),
        );
        assert!(
            flat(&out).contains(&format!(
                "ReceivePorts<::allocport_core::__private::{held},1>"
            )),
            "{held}:\n{out}"
        );
    }
}

#[test]
fn request_options_combine_with_udp_and_listen() {
    let udp = pretty(
        quote!(2, udp, consecutive),
        quote! {
            #[test]
            fn t(ports: [u16; 2]) {}
        },
    );
    assert!(
        udp.contains("__private::allocate_udp_request_for_test("),
        "{udp}"
    );
    assert!(udp.contains("consecutive: true"), "{udp}");
    let listen = pretty(
        quote!(2, listen, offsets = [0, 10000]),
        quote! {
            #[test]
            fn t(listeners: [std::net::TcpListener; 2]) {}
        },
    );
    assert!(
        listen.contains("__private::listen_request_for_test("),
        "{listen}"
    );
    let socket = pretty(
        quote!(1, udp, listen, exact = 5353),
        quote! {
            #[test]
            fn t(socket: std::net::UdpSocket) {}
        },
    );
    assert!(
        socket.contains("__private::bind_udp_request_for_test("),
        "{socket}"
    );
    assert!(socket.contains("Some(5353"), "{socket}");
}

#[test]
fn strict_does_not_combine_with_udp_or_listen() {
    for args in [quote!(2, udp, strict), quote!(2, listen, strict)] {
        let msg = error(
            args,
            quote! {
                #[test]
                fn t(ports: [u16; 2]) {}
            },
        );
        assert!(
            msg.contains("`strict`") && msg.contains("no effect"),
            "{msg}"
        );
    }
}
